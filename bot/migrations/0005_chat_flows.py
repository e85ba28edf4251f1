from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_posts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChatFlow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel_account', fields.ForeignKeyField('models.ChannelAccount', source_field='channel_account_id', db_constraint=True, to_field='id', related_name='chat_flows', on_delete=OnDelete.CASCADE)),
                ('chat_id', fields.CharField(max_length=64)),
                ('user_external_id', fields.CharField(max_length=64)),
                ('flow', fields.CharField(max_length=32)),
                ('step', fields.CharField(max_length=32)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'chat_flows', 'app': 'models', 'unique_together': (('channel_account', 'chat_id', 'user_external_id'),), 'pk_attr': 'id', 'table_description': 'A step-by-step exchange a staff member is in with the bot (the interactive /post):'},
            bases=['Model'],
        ),
    ]
