from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0020_report_people')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SavedView',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='saved_views', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=80)),
                ('query', fields.CharField(max_length=1000)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'saved_views', 'app': 'models', 'unique_together': (('user', 'name'),), 'pk_attr': 'id', 'table_description': "A staff member's named inbox filters (the list's query string), listed in the inbox."},
            bases=['Model'],
        ),
    ]
