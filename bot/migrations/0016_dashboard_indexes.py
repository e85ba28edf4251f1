from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0015_shop_reports')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='MailSend',
            index=Index(fields=['state', 'sent_at'], name='mail_state_sent'),
        ),
        ops.AddIndex(
            model_name='MailSend',
            index=Index(fields=['converted_at'], name='mail_converted'),
        ),
        ops.AddIndex(
            model_name='StaffAlert',
            index=Index(fields=['kind', 'created_at'], name='alert_kind_time'),
        ),
    ]
