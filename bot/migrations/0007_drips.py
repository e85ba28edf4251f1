from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_email')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Sequence',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=64)),
                ('name', fields.CharField(max_length=120)),
                ('trigger', fields.CharField(max_length=32)),
                ('exit_on', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('steps', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'sequences', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A drip sequence: what starts it (an event kind), what ends it early, and its steps'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Enrollment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sequence', fields.ForeignKeyField('models.Sequence', source_field='sequence_id', db_constraint=True, to_field='id', related_name='enrollments', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='enrollments', on_delete=OnDelete.CASCADE)),
                ('state', fields.CharField(default='active', max_length=16)),
                ('step', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('context', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_reason', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'enrollments', 'app': 'models', 'indexes': [Index(fields=['state', 'due_at'], name='enrollment_due'), Index(fields=['contact_id', 'state'], name='enrollment_contact')], 'pk_attr': 'id', 'table_description': 'A contact going through a sequence: the next step and when it is due (due work,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MailSend',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=128)),
                ('enrollment', fields.ForeignKeyField('models.Enrollment', source_field='enrollment_id', null=True, db_constraint=True, to_field='id', related_name='mails', on_delete=OnDelete.SET_NULL)),
                ('step', fields.IntField(null=True)),
                ('template', fields.CharField(default='', max_length=64)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='mails', on_delete=OnDelete.CASCADE)),
                ('to', fields.CharField(max_length=254)),
                ('subject', fields.CharField(default='', max_length=300)),
                ('message_id', fields.CharField(max_length=255)),
                ('state', fields.CharField(default='sending', max_length=16)),
                ('error', fields.CharField(default='', max_length=500)),
                ('attempts', fields.IntField(default=0)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mail_sends', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One marketing mail: its idempotency key is stored before it is sent, and its'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ShopEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=32)),
                ('source', fields.CharField(max_length=32)),
                ('external_id', fields.CharField(max_length=200)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='shop_events', on_delete=OnDelete.CASCADE)),
                ('payload', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'shop_events', 'app': 'models', 'unique_together': (('source', 'external_id'),), 'indexes': [Index(fields=['contact_id', 'kind', 'occurred_at'], name='event_contact')], 'pk_attr': 'id', 'table_description': "Something the shop's store told us a contact did: signed up, started or updated a"},
            bases=['Model'],
        ),
    ]
