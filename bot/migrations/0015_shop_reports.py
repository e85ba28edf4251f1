from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0014_reports')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CampaignClick',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mail_id', fields.IntField(unique=True)),
                ('kind', fields.CharField(max_length=16)),
                ('ref', fields.IntField()),
                ('day', fields.DateField()),
            ],
            options={'table': 'report_clicks', 'app': 'models', 'indexes': [Index(fields=['day', 'kind', 'ref'], name='rk_day')], 'pk_attr': 'id', 'table_description': "A marketing mail's tracked click (its first), credited to the mail's campaign."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContactCommerce',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact_id', fields.IntField(unique=True)),
                ('source', fields.CharField(max_length=32)),
                ('entered_day', fields.DateField()),
                ('entered_week', fields.DateField()),
                ('signed_up', fields.BooleanField(default=False)),
                ('checkout_day', fields.DateField(null=True)),
                ('first_order_day', fields.DateField(null=True)),
                ('last_order_day', fields.DateField(null=True)),
                ('cohort', fields.DateField(null=True)),
                ('orders', fields.IntField(default=0)),
                ('cents', fields.BigIntField(default=0)),
            ],
            options={'table': 'report_contacts', 'app': 'models', 'indexes': [Index(fields=['entered_day', 'source', 'signed_up', 'checkout_day', 'first_order_day'], name='rc_entered'), Index(fields=['cents', 'contact_id'], name='rc_value')], 'pk_attr': 'id', 'table_description': "One contact's way through the shop's funnel (what each column means: ``shop_facts``)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('cohort', fields.DateField()),
                ('source', fields.CharField(max_length=32)),
                ('currency', fields.CharField(max_length=8)),
                ('orders', fields.IntField(default=0)),
                ('cents', fields.BigIntField(default=0)),
                ('firsts', fields.IntField(default=0)),
                ('seconds', fields.IntField(default=0)),
            ],
            options={'table': 'report_order_days', 'app': 'models', 'unique_together': (('day', 'cohort', 'source', 'currency'),), 'pk_attr': 'id', 'table_description': 'Orders summed per day, cohort, source channel and currency: ``firsts`` are first'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderFact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.IntField(unique=True)),
                ('contact_id', fields.IntField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('day', fields.DateField()),
                ('week', fields.DateField()),
                ('nth', fields.IntField()),
                ('prev_day', fields.DateField(null=True)),
                ('next_day', fields.DateField(null=True)),
                ('cohort', fields.DateField()),
                ('cents', fields.BigIntField()),
                ('currency', fields.CharField(default='', max_length=8)),
                ('source', fields.CharField(max_length=32)),
                ('last_kind', fields.CharField(default='', max_length=16)),
                ('last_ref', fields.IntField(null=True)),
                ('first_kind', fields.CharField(default='', max_length=16)),
                ('first_ref', fields.IntField(null=True)),
            ],
            options={'table': 'report_orders', 'app': 'models', 'indexes': [Index(fields=['day', 'source', 'prev_day', 'next_day', 'nth'], name='ro_day'), Index(fields=['contact_id', 'day'], name='ro_contact'), Index(fields=['last_kind', 'day', 'last_ref', 'cents'], name='ro_last'), Index(fields=['first_kind', 'day', 'first_ref', 'cents'], name='ro_first')], 'pk_attr': 'id', 'table_description': 'One order (an ``order_placed`` shop event): its amount in cents, its number among'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ShopReportState',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'shop_report_state', 'app': 'models', 'pk_attr': 'name', 'table_description': 'How far a roll-up has read its raw rows (a watermark), or the settings it was built'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReviewFact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('review_id', fields.IntField(unique=True)),
                ('source', fields.CharField(max_length=32)),
                ('day', fields.DateField()),
                ('week', fields.DateField()),
                ('rating', fields.IntField(null=True)),
                ('answered', fields.BooleanField(default=False)),
                ('replied', fields.BooleanField(default=False)),
            ],
            options={'table': 'report_reviews', 'app': 'models', 'indexes': [Index(fields=['day', 'source'], name='rv_day'), Index(fields=['replied', 'review_id'], name='rv_replied')], 'pk_attr': 'id', 'table_description': 'One review: its source, day, rating and whether it was answered within 24 hours.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SentimentDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('week', fields.DateField()),
                ('channel', fields.CharField(max_length=32)),
                ('lang', fields.CharField(max_length=8)),
                ('label', fields.CharField(max_length=8)),
                ('n', fields.IntField(default=0)),
            ],
            options={'table': 'report_sentiment_days', 'app': 'models', 'unique_together': (('day', 'channel', 'lang', 'label'),), 'pk_attr': 'id', 'table_description': 'Scored items counted per day, channel, language and label.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SentimentFact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('item', fields.CharField(unique=True, max_length=300)),
                ('day', fields.DateField()),
                ('week', fields.DateField()),
                ('channel', fields.CharField(max_length=32)),
                ('lang', fields.CharField(default='', max_length=8)),
                ('label', fields.CharField(max_length=8)),
            ],
            options={'table': 'report_sentiment', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One scored item (a message, a review, or a mention from outside), its latest label.'},
            bases=['Model'],
        ),
    ]
