from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_telegram')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CsatRating',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation', fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='ratings', on_delete=OnDelete.CASCADE)),
                ('rating', fields.SmallIntField()),
                ('assignee', fields.ForeignKeyField('models.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='ratings', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'csat_ratings', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's 1-5 rating of a resolved conversation."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FaqEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('locale', fields.CharField(db_index=True, max_length=8)),
                ('question', fields.CharField(max_length=300)),
                ('variants', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answer', fields.TextField(unique=False)),
                ('in_menu', fields.BooleanField(default=False)),
                ('position', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'faq_entries', 'app': 'models', 'pk_attr': 'id', 'table_description': "One answer of the bot's knowledge base, in one locale, with the ways people ask."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Rule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('event', fields.CharField(max_length=32)),
                ('conditions', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('position', fields.IntField(default=0)),
                ('fired', fields.IntField(default=0)),
                ('last_fired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'rules', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An automation rule: when ``event`` happens and every condition holds, run the actions.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffNotification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel_account', fields.ForeignKeyField('models.ChannelAccount', source_field='channel_account_id', db_constraint=True, to_field='id', related_name='staff_notifications', on_delete=OnDelete.CASCADE)),
                ('chat_id', fields.CharField(max_length=64)),
                ('external_id', fields.CharField(max_length=64)),
                ('conversation', fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='staff_notifications', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'staff_notifications', 'app': 'models', 'unique_together': (('channel_account', 'chat_id', 'external_id'),), 'pk_attr': 'id', 'table_description': 'A notification posted in a staff chat, so a reply to it finds its conversation.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Conversation',
            name='is_public',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Conversation',
            name='needs_human',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Message',
            name='author',
            field=fields.ForeignKeyField('models.Contact', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='comments', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Message',
            name='buttons',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Message',
            name='origin',
            field=fields.CharField(default='', db_default='', max_length=16),
        ),
        ops.AddField(
            model_name='Message',
            name='payload',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Message',
            name='reply_to',
            field=fields.ForeignKeyField('models.Message', source_field='reply_to_id', null=True, db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Message',
            name='source_ref',
            field=fields.CharField(null=True, unique=True, max_length=128),
        ),
        ops.AddField(
            model_name='User',
            name='telegram_user_id',
            field=fields.BigIntField(null=True, unique=True),
        ),
    ]
