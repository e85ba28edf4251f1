from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_segments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Broadcast',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('segment', fields.ForeignKeyField('models.Segment', source_field='segment_id', db_constraint=True, to_field='id', related_name='broadcasts', on_delete=OnDelete.RESTRICT)),
                ('subject_a', fields.CharField(max_length=300)),
                ('subject_b', fields.CharField(default='', max_length=300)),
                ('body', fields.TextField(unique=False)),
                ('split_percent', fields.IntField(default=0)),
                ('metric', fields.CharField(default='opens', max_length=8)),
                ('decide_after_hours', fields.FloatField(default=4)),
                ('state', fields.CharField(default='scheduled', max_length=16)),
                ('winner', fields.CharField(default='', max_length=1)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'broadcasts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One mail to a segment, optionally with an A/B subject test: ``split_percent`` of'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='MailSend',
            name='broadcast',
            field=fields.ForeignKeyField('models.Broadcast', source_field='broadcast_id', null=True, db_constraint=True, to_field='id', related_name='mails', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='MailSend',
            name='variant',
            field=fields.CharField(default='', db_default='', max_length=1),
        ),
    ]
