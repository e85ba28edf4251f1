from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0024_segment_delete')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Note',
            name='deleted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Note',
            name='deleted_by',
            field=fields.ForeignKeyField('models.User', source_field='deleted_by_id', null=True, db_constraint=True, to_field='id', related_name='notes_deleted', on_delete=OnDelete.SET_NULL),
        ),
    ]
