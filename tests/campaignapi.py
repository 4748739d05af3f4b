"""A CampaignAPI test setup: the vendor sample's template, a campaign, an allocation, a key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from campaigner.models import Allocation, ApiKey, Campaign, CampaignTemplate, TemplateField
from tests.factories import (
    AllocationFactory,
    ApiKeyFactory,
    CampaignFactory,
    ContactHoursFactory,
    TemplateFactory,
)

BASE = "/servicemanager/rest/CampaignAPI/"
GLOBAL_KEY = "global-test-key-0000000000000000"
SAMPLE_FIELDS = ["Name", "StreetAddress", "City", "State", "PostCode", "FirstPhone", "SecondPhone"]


@dataclass
class Api:
    client: Client
    template: CampaignTemplate
    campaign: Campaign
    allocation: Allocation
    key: ApiKey

    def ids(self, **overrides: Any) -> dict[str, Any]:
        params = {
            "fTemplateId": self.template.pk,
            "fCampaignId": self.campaign.pk,
            "fAllocationId": self.allocation.pk,
            "apiKey": GLOBAL_KEY,
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def post(
        self, method: str, body: Any, raw: bool = False, headers: Any = None, **params: Any
    ) -> Any:
        query = "&".join(f"{k}={v}" for k, v in self.ids(**params).items())
        data = body if raw else json.dumps(body)
        return self.client.post(
            f"{BASE}{method}?{query}", data=data, content_type="application/json",
            headers=headers or {},
        )  # fmt: skip


def make_api(client: Client) -> Api:
    hours = ContactHoursFactory(name="Melbourne business", timezone="Australia/Melbourne")
    template = TemplateFactory(name="Solar", contact_hours=hours, with_fields=False)
    for position, name in enumerate(SAMPLE_FIELDS):
        TemplateField.objects.create(
            template=template, name=name, is_phone=name.endswith("Phone"), position=position
        )
    campaign = CampaignFactory(template=template, name="Jan16a")
    allocation = AllocationFactory(campaign=campaign, name="Web leads")
    key = ApiKeyFactory(name="global", plain=GLOBAL_KEY)
    return Api(client, template, campaign, allocation, key)
