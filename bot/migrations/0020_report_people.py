from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0019_report_speed')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ConversationFact',
            index=Index(fields=['opened_at', 'channel_kind', 'account_id', 'agent_id', 'bot_out', 'bot_only', 'handed_off', 'csat_asked', 'csat_n', 'csat_sum', 'csat_1', 'csat_2', 'csat_3', 'csat_4', 'csat_5'], name='rep_conv_people'),
        ),
    ]
