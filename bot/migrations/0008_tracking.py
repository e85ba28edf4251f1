from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_drips')]

    initial = False

    operations = [
        ops.AddField(
            model_name='MailSend',
            name='clicked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='MailSend',
            name='clicks',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='MailSend',
            name='converted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='MailSend',
            name='opened_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='MailSend',
            name='opens',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='MailSend',
            name='revenue',
            field=fields.FloatField(default=0, db_default=0),
        ),
        ops.AddIndex(
            model_name='MailSend',
            index=Index(fields=['contact_id', 'clicked_at'], name='mail_contact_click'),
        ),
    ]
