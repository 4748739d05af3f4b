"""A lead moved to another allocation (or campaign) is checked once per UPDATE statement, over
all the leads it moved, instead of once per row at commit (migration 0011's row trigger): a
bulk job's move of 10,000 leads cost 10,000 calls of the row check, more than the move itself.

Same guarantee, for every writer: after an UPDATE, each lead whose allocation or campaign
changed has an allocation of its campaign, key-share locked until the end of the transaction
(so a concurrent delete of the allocation waits, then fails its own check). Checked when the
statement ends rather than at commit: a transaction can no longer move a lead to an allocation
it only creates later (nothing does).
"""

from django.db import migrations

CREATE = r"""
DROP TRIGGER lead_allocation_in_campaign_update ON leads_lead;

CREATE FUNCTION leads_moved_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The leads whose allocation or campaign changed: the new rows that are not an old row
    -- (a set difference, never a nested loop whatever the plan).
    PERFORM FROM campaigner_allocation a
        WHERE a.id IN (SELECT m.allocation_id FROM (
                           SELECT id, allocation_id, campaign_id FROM moved_new
                           EXCEPT SELECT id, allocation_id, campaign_id FROM moved_old) AS m)
        FOR KEY SHARE;
    IF EXISTS (SELECT FROM (SELECT id, allocation_id, campaign_id FROM moved_new
                            EXCEPT SELECT id, allocation_id, campaign_id FROM moved_old) AS m
               WHERE NOT EXISTS (SELECT FROM campaigner_allocation a
                                 WHERE a.id = m.allocation_id AND a.campaign_id = m.campaign_id))
    THEN
        PERFORM lead_allocation_in_campaign_violated();
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER lead_allocation_in_campaign_update AFTER UPDATE ON leads_lead
    REFERENCING OLD TABLE AS moved_old NEW TABLE AS moved_new
    FOR EACH STATEMENT EXECUTE FUNCTION leads_moved_check();
"""

REVERSE = r"""
DROP TRIGGER lead_allocation_in_campaign_update ON leads_lead;
DROP FUNCTION leads_moved_check();
CREATE CONSTRAINT TRIGGER lead_allocation_in_campaign_update
    AFTER UPDATE OF allocation_id, campaign_id ON leads_lead DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.allocation_id IS DISTINCT FROM NEW.allocation_id
                       OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
    EXECUTE FUNCTION lead_moved_check();
"""


class Migration(migrations.Migration):
    dependencies = [("leads", "0016_lead_history_trigger")]

    operations = [migrations.RunSQL(CREATE, REVERSE)]
