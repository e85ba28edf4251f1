from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0017_post_clicks')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['conversation_id', 'direction', 'id', 'sender_id', 'created_at'], name='msg_conv_dir'),
        ),
    ]
