from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_work')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AgentFact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation_id', fields.IntField()),
                ('agent_id', fields.IntField()),
                ('account_id', fields.IntField()),
                ('channel_kind', fields.CharField(max_length=32)),
                ('opened_at', fields.BigIntField()),
                ('replies', fields.IntField()),
            ],
            options={'table': 'report_conversation_agents', 'app': 'models', 'unique_together': (('conversation_id', 'agent_id'),), 'indexes': [Index(fields=['opened_at', 'agent_id'], name='rep_agent_opened')], 'pk_attr': 'id', 'table_description': 'One row per conversation and staff member who replied in it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConversationEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation_id', fields.IntField()),
                ('kind', fields.CharField(max_length=16)),
                ('actor_id', fields.IntField(null=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'conversation_events', 'app': 'models', 'indexes': [Index(fields=['conversation_id', 'id'], name='conv_event_conv')], 'pk_attr': 'id', 'table_description': 'What happened to a conversation that its row forgets: ``resolved``, ``reopened``'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConversationFact',
            fields=[
                ('conversation_id', fields.IntField(primary_key=True, generated=False, unique=True, db_index=True)),
                ('account_id', fields.IntField()),
                ('channel_kind', fields.CharField(max_length=32)),
                ('agent_id', fields.IntField(null=True)),
                ('opened_at', fields.BigIntField()),
                ('day', fields.CharField(max_length=10)),
                ('weekday', fields.SmallIntField()),
                ('hour', fields.SmallIntField()),
                ('first_response_at', fields.BigIntField(null=True)),
                ('frt_cal', fields.IntField(null=True)),
                ('frt_biz', fields.IntField(null=True)),
                ('resolved_at', fields.BigIntField(null=True)),
                ('res_cal', fields.IntField(null=True)),
                ('res_biz', fields.IntField(null=True)),
                ('reopens', fields.IntField(default=0)),
                ('msgs_in', fields.IntField(default=0)),
                ('msgs_out', fields.IntField(default=0)),
                ('human_out', fields.IntField(default=0)),
                ('bot_out', fields.IntField(default=0)),
                ('handed_off', fields.SmallIntField(default=0)),
                ('bot_only', fields.SmallIntField(default=0)),
                ('csat_asked', fields.IntField(default=0)),
                ('csat_n', fields.IntField(default=0)),
                ('csat_sum', fields.IntField(default=0)),
                ('csat_1', fields.IntField(default=0)),
                ('csat_2', fields.IntField(default=0)),
                ('csat_3', fields.IntField(default=0)),
                ('csat_4', fields.IntField(default=0)),
                ('csat_5', fields.IntField(default=0)),
            ],
            options={'table': 'report_conversations', 'app': 'models', 'indexes': [Index(fields=['opened_at'], name='rep_conv_opened'), Index(fields=['channel_kind', 'opened_at'], name='rep_conv_kind'), Index(fields=['agent_id', 'opened_at'], name='rep_conv_agent'), Index(fields=['account_id', 'opened_at'], name='rep_conv_account')], 'pk_attr': 'conversation_id', 'table_description': 'One row per conversation: what the inbox reports count (see the definitions in'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FaqMiss',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation_id', fields.IntField()),
                ('message_id', fields.IntField(unique=True)),
                ('question', fields.CharField(max_length=300)),
                ('normalized', fields.CharField(max_length=300)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'faq_misses', 'app': 'models', 'indexes': [Index(fields=['created_at'], name='faq_miss_at')], 'pk_attr': 'id', 'table_description': "A customer's question the bot could not match to an FAQ entry."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportState',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField(default=0)),
                ('text', fields.CharField(default='', max_length=500)),
            ],
            options={'table': 'report_state', 'app': 'models', 'pk_attr': 'key', 'table_description': "The roll-ups' watermarks (last message, event and rating id seen) and the"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='CsatRating',
            name='comment',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
    ]
