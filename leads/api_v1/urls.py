"""The management API's resources (domain.md §5.2), under ``/api/v1/``."""

from campaigner.api.management import ManagementRouter
from leads.api_v1 import configuration, imports, records

router = ManagementRouter()
router.register("contact-hours", configuration.ContactHoursApi, basename="contact-hours")
router.register("disposition-sets", configuration.DispositionSetApi, basename="disposition-sets")
router.register("templates", configuration.TemplateApi, basename="templates")
router.register("campaigns", configuration.CampaignApi, basename="campaigns")
router.register("allocations", configuration.AllocationApi, basename="allocations")
router.register("api-keys", records.ApiKeyApi, basename="api-keys")
router.register("dnc", records.DncApi, basename="dnc")
router.register("phone-patterns", records.PhonePatternApi, basename="phone-patterns")
router.register("deliveries", records.DeliveryApi, basename="deliveries")
router.register("leads", records.LeadApi, basename="leads")
router.register("imports", imports.LeadImportApi, basename="imports")

urlpatterns = router.urls
