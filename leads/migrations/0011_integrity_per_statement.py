"""The references of leads and their numbers are checked by triggers, per statement, instead of
by foreign-key constraints, per row.

A foreign key checks each inserted row on its own (a query and a row lock per row): for a
100,000-lead batch, about 170,000 checks, an eighth of the batch's time. The same guarantees,
enforced by the database for every writer (raw SQL included):

- ``lead_allocation_in_campaign``: a lead's allocation exists and is of the lead's campaign.
  Checked once per INSERT statement over all its rows (one batch has one allocation: one
  lookup, one row lock), and per row when an UPDATE changes either column (deferred, as the
  foreign key was). An allocation that has leads cannot be deleted, moved to another campaign
  or truncated away.
- ``lead_phone_of_a_lead``: a number belongs to an existing lead. Checked once per INSERT
  statement (the leads this transaction inserted need no lock: nobody else can see them yet),
  and per row when an UPDATE changes the lead. A lead that has numbers cannot be deleted or
  truncated away.

Locks as a foreign key takes them: the referenced rows are key-share locked until the end of
the transaction, so a concurrent delete of them waits, then fails its own check; a delete that
came first makes the insert's check fail.
"""

import django.db.models.deletion
from django.db import migrations, models

CREATE = r"""
CREATE FUNCTION lead_allocation_in_campaign_violated() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = 'lead_allocation_in_campaign: a lead''s allocation must exist and be of the'
                  ' lead''s campaign; an allocation that has leads cannot be deleted or moved',
        CONSTRAINT = 'lead_allocation_in_campaign';
END $$;

CREATE FUNCTION lead_phone_of_a_lead_violated() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = 'lead_phone_of_a_lead: a number must belong to an existing lead; a lead that'
                  ' has numbers cannot be deleted',
        CONSTRAINT = 'lead_phone_of_a_lead';
END $$;

-- New leads (statement): their allocations, key-share locked, exist in the leads' campaigns.
CREATE FUNCTION leads_inserted_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM campaigner_allocation a
        WHERE (a.id, a.campaign_id) IN (SELECT allocation_id, campaign_id FROM new_leads)
        FOR KEY SHARE;
    IF EXISTS (SELECT FROM (SELECT DISTINCT allocation_id, campaign_id FROM new_leads) n
               WHERE NOT EXISTS (SELECT FROM campaigner_allocation a
                                 WHERE a.id = n.allocation_id AND a.campaign_id = n.campaign_id))
    THEN
        PERFORM lead_allocation_in_campaign_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_allocation_in_campaign_insert AFTER INSERT ON leads_lead
    REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION leads_inserted_check();

-- A lead moved to another allocation or campaign (row, deferred).
CREATE FUNCTION lead_moved_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM campaigner_allocation a
        WHERE a.id = NEW.allocation_id AND a.campaign_id = NEW.campaign_id FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM lead_allocation_in_campaign_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lead_allocation_in_campaign_update
    AFTER UPDATE OF allocation_id, campaign_id ON leads_lead DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.allocation_id IS DISTINCT FROM NEW.allocation_id
                       OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
    EXECUTE FUNCTION lead_moved_check();

-- An allocation deleted or moved (row, deferred): none of its leads may be left.
CREATE FUNCTION allocation_gone_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM leads_lead l
               WHERE l.allocation_id = OLD.id AND l.campaign_id = OLD.campaign_id) THEN
        PERFORM lead_allocation_in_campaign_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lead_allocation_in_campaign_allocation_delete
    AFTER DELETE ON campaigner_allocation DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION allocation_gone_check();
CREATE CONSTRAINT TRIGGER lead_allocation_in_campaign_allocation_update
    AFTER UPDATE OF id, campaign_id ON campaigner_allocation DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.id <> NEW.id OR OLD.campaign_id <> NEW.campaign_id)
    EXECUTE FUNCTION allocation_gone_check();

-- New numbers (statement): their leads exist; those of other transactions key-share locked.
CREATE FUNCTION phones_inserted_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM leads_lead l
        WHERE l.id IN (SELECT lead_id FROM new_phones) AND l.xmin <> pg_current_xact_id()::xid
        FOR KEY SHARE;
    IF EXISTS (SELECT FROM new_phones n
               WHERE NOT EXISTS (SELECT FROM leads_lead l WHERE l.id = n.lead_id)) THEN
        PERFORM lead_phone_of_a_lead_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_phone_of_a_lead_insert AFTER INSERT ON leads_leadphone
    REFERENCING NEW TABLE AS new_phones FOR EACH STATEMENT EXECUTE FUNCTION phones_inserted_check();

-- A number moved to another lead (row, deferred).
CREATE FUNCTION phone_moved_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM leads_lead l WHERE l.id = NEW.lead_id FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM lead_phone_of_a_lead_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lead_phone_of_a_lead_update
    AFTER UPDATE OF lead_id ON leads_leadphone DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.lead_id <> NEW.lead_id) EXECUTE FUNCTION phone_moved_check();

-- A lead deleted or renumbered (row, deferred): none of its numbers may be left.
CREATE FUNCTION lead_gone_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM leads_leadphone p WHERE p.lead_id = OLD.id) THEN
        PERFORM lead_phone_of_a_lead_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lead_phone_of_a_lead_lead_delete
    AFTER DELETE ON leads_lead DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION lead_gone_check();
CREATE CONSTRAINT TRIGGER lead_phone_of_a_lead_lead_update
    AFTER UPDATE OF id ON leads_lead DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION lead_gone_check();

-- TRUNCATE of a referenced table alone (it fires no delete triggers).
CREATE FUNCTION leads_truncated_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM leads_leadphone) THEN
        PERFORM lead_phone_of_a_lead_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_phone_of_a_lead_truncate AFTER TRUNCATE ON leads_lead
    FOR EACH STATEMENT EXECUTE FUNCTION leads_truncated_check();
CREATE FUNCTION allocations_truncated_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM leads_lead) THEN
        PERFORM lead_allocation_in_campaign_violated();
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_allocation_in_campaign_truncate AFTER TRUNCATE ON campaigner_allocation
    FOR EACH STATEMENT EXECUTE FUNCTION allocations_truncated_check();

ALTER TABLE leads_lead DROP CONSTRAINT lead_allocation_in_campaign;
"""

DROP = r"""
ALTER TABLE leads_lead ADD CONSTRAINT lead_allocation_in_campaign
    FOREIGN KEY (allocation_id, campaign_id) REFERENCES campaigner_allocation (id, campaign_id)
    DEFERRABLE INITIALLY DEFERRED;
DROP TRIGGER lead_allocation_in_campaign_truncate ON campaigner_allocation;
DROP TRIGGER lead_phone_of_a_lead_truncate ON leads_lead;
DROP TRIGGER lead_phone_of_a_lead_lead_update ON leads_lead;
DROP TRIGGER lead_phone_of_a_lead_lead_delete ON leads_lead;
DROP TRIGGER lead_phone_of_a_lead_update ON leads_leadphone;
DROP TRIGGER lead_phone_of_a_lead_insert ON leads_leadphone;
DROP TRIGGER lead_allocation_in_campaign_allocation_update ON campaigner_allocation;
DROP TRIGGER lead_allocation_in_campaign_allocation_delete ON campaigner_allocation;
DROP TRIGGER lead_allocation_in_campaign_update ON leads_lead;
DROP TRIGGER lead_allocation_in_campaign_insert ON leads_lead;
DROP FUNCTION allocations_truncated_check(), leads_truncated_check(), lead_gone_check(),
    phone_moved_check(), phones_inserted_check(), allocation_gone_check(), lead_moved_check(),
    leads_inserted_check(), lead_phone_of_a_lead_violated(),
    lead_allocation_in_campaign_violated();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("campaigner", "0004_key_failures"),
        ("leads", "0010_import_report_pieces"),
    ]

    operations = [
        migrations.AlterField(
            model_name="leadphone",
            name="lead",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="phones",
                to="leads.lead",
            ),
        ),
        migrations.RunSQL(CREATE, DROP),
    ]
