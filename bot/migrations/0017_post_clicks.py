from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0016_dashboard_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PostClick',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('post_id', fields.IntField()),
                ('variant_id', fields.IntField()),
                ('network', fields.CharField(max_length=16)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'post_clicks', 'app': 'models', 'indexes': [Index(fields=['post_id', 'at'], name='pc_post'), Index(fields=['at', 'post_id'], name='pc_at')], 'pk_attr': 'id', 'table_description': 'A click on a tracked link of a published post (``scheduler.posts.links``): which'},
            bases=['Model'],
        ),
    ]
