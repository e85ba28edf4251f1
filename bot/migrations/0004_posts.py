from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from bot.models import PostStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_bot_rules_groups')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Post',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('text', fields.TextField(unique=False)),
                ('media', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=PostStatus.DRAFT, description='DRAFT: draft\nIN_REVIEW: in_review\nAPPROVED: approved\nSCHEDULED: scheduled\nPUBLISHING: publishing\nPUBLISHED: published\nFAILED: failed\nCANCELLED: cancelled\nMISSED: missed', enum_type=PostStatus, max_length=16)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('recurrence', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('evergreen_days', fields.IntField(null=True)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('error', fields.CharField(default='', max_length=500)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='posts', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'posts', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at'], name='post_due')], 'pk_attr': 'id', 'table_description': 'Something marketers publish to one or more channels, at a time (due work).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PostEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('post', fields.ForeignKeyField('models.Post', source_field='post_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('from_status', fields.CharField(max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='post_events', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'post_events', 'app': 'models', 'pk_attr': 'id', 'table_description': "One step of a post's workflow: who moved it, when, from what to what, and why."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PostVariant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('post', fields.ForeignKeyField('models.Post', source_field='post_id', db_constraint=True, to_field='id', related_name='variants', on_delete=OnDelete.CASCADE)),
                ('channel_account', fields.ForeignKeyField('models.ChannelAccount', source_field='channel_account_id', db_constraint=True, to_field='id', related_name='post_variants', on_delete=OnDelete.RESTRICT)),
                ('network', fields.CharField(max_length=16)),
                ('target', fields.CharField(max_length=128)),
                ('text', fields.TextField(null=True, unique=False)),
                ('state', fields.CharField(default='waiting', max_length=16)),
                ('remote_id', fields.CharField(null=True, max_length=128)),
                ('error', fields.CharField(default='', max_length=500)),
                ('attempts', fields.IntField(default=0)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'post_variants', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The post on one target (a Telegram channel, a Facebook Page, an Instagram account).'},
            bases=['Model'],
        ),
    ]
