from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0018_dashboard_speed')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='AgentFact',
            name='rep_agent_opened',
            fields=None,
        ),
        ops.AddIndex(
            model_name='AgentFact',
            index=Index(fields=['opened_at', 'agent_id', 'replies'], name='rep_agent_cover'),
        ),
        ops.RemoveIndex(
            model_name='ConversationFact',
            name='rep_conv_opened',
            fields=None,
        ),
        ops.AddIndex(
            model_name='ConversationFact',
            index=Index(fields=['opened_at', 'day', 'channel_kind', 'agent_id', 'weekday', 'hour', 'frt_biz', 'frt_cal', 'res_biz', 'res_cal', 'reopens', 'msgs_in', 'msgs_out', 'csat_n', 'csat_sum'], name='rep_conv_cover'),
        ),
    ]
