import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from bot.models import ConversationStatus, DeliveryStatus, Direction, Role


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CannedReply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('shortcut', fields.CharField(unique=True, max_length=64)),
                ('title', fields.CharField(default='', max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'canned_replies', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChannelAccount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(db_index=True, max_length=32)),
                ('name', fields.CharField(max_length=120)),
                ('secret', fields.CharField(max_length=128)),
                ('callback_url', fields.CharField(default='', max_length=500)),
                ('settings', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'channel_accounts', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Contact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(default='', max_length=200)),
                ('email', fields.CharField(null=True, db_index=True, max_length=254)),
                ('phone', fields.CharField(null=True, max_length=64)),
                ('locale', fields.CharField(null=True, max_length=16)),
                ('attributes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'contacts', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Identity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='identities', on_delete=OnDelete.CASCADE)),
                ('channel_account', fields.ForeignKeyField('models.ChannelAccount', source_field='channel_account_id', db_constraint=True, to_field='id', related_name='identities', on_delete=OnDelete.CASCADE)),
                ('external_id', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'identities', 'app': 'models', 'unique_together': (('channel_account', 'external_id'),), 'pk_attr': 'id', 'table_description': 'Who a contact is on one channel account.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Label',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('color', fields.CharField(default='#64748b', max_length=16)),
            ],
            options={'table': 'labels', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('name', fields.CharField(default='', max_length=120)),
                ('role', fields.CharEnumField(description='ADMIN: admin\nAGENT: agent\nMARKETER: marketer', enum_type=Role, max_length=16)),
                ('password_hash', fields.CharField(default='', max_length=255)),
                ('api_token_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('is_active', fields.BooleanField(default=True)),
                ('last_assigned_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel_account', fields.ForeignKeyField('models.ChannelAccount', source_field='channel_account_id', db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.RESTRICT)),
                ('channel_kind', fields.CharField(max_length=32)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.RESTRICT)),
                ('thread_key', fields.CharField(null=True, max_length=255)),
                ('status', fields.CharEnumField(default=ConversationStatus.OPEN, description='OPEN: open\nPENDING: pending\nSNOOZED: snoozed\nRESOLVED: resolved', enum_type=ConversationStatus, max_length=16)),
                ('assignee', fields.ForeignKeyField('models.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned', on_delete=OnDelete.SET_NULL)),
                ('snoozed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('unread_count', fields.IntField(default=0)),
                ('last_message_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_message_preview', fields.CharField(default='', max_length=200)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('labels', fields.ManyToManyField('models.Label', unique=True, db_constraint=True, through='conversation_labels', forward_key='label_id', backward_key='conversations_id', related_name='conversations', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'conversations', 'app': 'models', 'indexes': [Index(fields=['status', 'last_message_at'], name='conv_status_last'), Index(fields=['channel_kind', 'status', 'last_message_at'], name='conv_kind_status_last'), Index(fields=['contact_id', 'channel_account_id', 'status'], name='conv_contact'), Index(fields=['assignee_id', 'status', 'last_message_at'], name='conv_assignee')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation', fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('channel_account', fields.ForeignKeyField('models.ChannelAccount', source_field='channel_account_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.RESTRICT)),
                ('direction', fields.CharEnumField(description='INBOUND: in\nOUTBOUND: out', enum_type=Direction, max_length=4)),
                ('external_id', fields.CharField(null=True, max_length=255)),
                ('text', fields.TextField(unique=False)),
                ('sender', fields.ForeignKeyField('models.User', source_field='sender_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('status', fields.CharEnumField(description='RECEIVED: received\nPENDING: pending\nRETRYING: retrying\nSENT: sent\nFAILED: failed', enum_type=DeliveryStatus, max_length=16)),
                ('error', fields.CharField(default='', max_length=500)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'messages', 'app': 'models', 'unique_together': (('channel_account', 'external_id'),), 'indexes': [Index(fields=['conversation_id', 'id'], name='msg_conv'), Index(fields=['status', 'next_attempt_at'], name='msg_due')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Note',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation', fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='notes', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='notes', on_delete=OnDelete.SET_NULL)),
                ('text', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'notes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A private note on a conversation. Staff see it, customers never do.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoteRevision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('note', fields.ForeignKeyField('models.Note', source_field='note_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(unique=False)),
                ('edited_by', fields.ForeignKeyField('models.User', source_field='edited_by_id', null=True, db_constraint=True, to_field='id', related_name='note_edits', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'note_revisions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The text a note had before an edit, and who replaced it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('csrf_token', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A staff login. The cookie holds the token, the table only its hash.'},
            bases=['Model'],
        ),
    ]
