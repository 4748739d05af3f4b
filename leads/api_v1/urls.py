"""The management API's lead resources (domain.md §5.2), under ``/api/v1/``: the DNC list,
phone patterns, deliveries, leads, imports and bulk jobs."""

from campaigner.api.management import ManagementRouter
from leads.api_v1 import imports, jobs, records

router = ManagementRouter()
router.register("dnc", records.DncApi, basename="dnc")
router.register("phone-patterns", records.PhonePatternApi, basename="phone-patterns")
router.register("deliveries", records.DeliveryApi, basename="deliveries")
router.register("leads", records.LeadApi, basename="leads")
router.register("imports", imports.LeadImportApi, basename="imports")
router.register("jobs", jobs.LeadJobApi, basename="jobs")

urlpatterns = router.urls
