from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_listening')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImportFailure',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.CharField(max_length=32)),
                ('account_id', fields.IntField(default=0)),
                ('key', fields.CharField(max_length=255)),
                ('body', fields.TextField(default='', unique=False)),
                ('error', fields.CharField(default='', max_length=500)),
                ('tries', fields.IntField(default=0)),
                ('quarantined', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'import_failures', 'app': 'models', 'unique_together': (('source', 'account_id', 'key'),), 'pk_attr': 'id', 'table_description': 'An item from outside (a mail, a Telegram update, a feed entry, a review) that a'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='ChannelAccount',
            name='secret',
            field=fields.CharField(max_length=512),
        ),
    ]
