"""The management API's configuration resources (domain.md §5.2), under ``/api/v1/``."""

from campaigner.api.management import ManagementRouter
from campaigner.api_v1 import configuration

router = ManagementRouter()
router.register("contact-hours", configuration.ContactHoursApi, basename="contact-hours")
router.register("disposition-sets", configuration.DispositionSetApi, basename="disposition-sets")
router.register("templates", configuration.TemplateApi, basename="templates")
router.register("campaigns", configuration.CampaignApi, basename="campaigns")
router.register("allocations", configuration.AllocationApi, basename="allocations")
router.register("api-keys", configuration.ApiKeyApi, basename="api-keys")

urlpatterns = router.urls
