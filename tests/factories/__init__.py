"""factory-boy factories for the configuration and lead models, typed by their model
(``LeadFactory.create()`` is a ``Lead`` to mypy)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from campaigner.models import (
    Allocation,
    ApiKey,
    ApiToken,
    Campaign,
    CampaignTemplate,
    ContactHours,
    ContactHoursWindow,
    Disposition,
    DispositionSet,
    TemplateField,
    hash_secret,
)
from leads.models import DncEntry, Door, Lead, LeadPhone
from leads.services.lead_insert import NewOrigin
from leads.services.lead_version import ChangeBy


class TeamFactory(factory.django.DjangoModelFactory[Group]):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("password")


class ContactHoursFactory(factory.django.DjangoModelFactory[ContactHours]):
    class Meta:
        model = ContactHours

    name = factory.Sequence(lambda n: f"Hours {n}")
    timezone = "Australia/Melbourne"


class ContactHoursWindowFactory(factory.django.DjangoModelFactory[ContactHoursWindow]):
    class Meta:
        model = ContactHoursWindow

    contact_hours = factory.SubFactory(ContactHoursFactory)
    weekday = 0
    start_minute = 9 * 60
    end_minute = 17 * 60


class DispositionSetFactory(factory.django.DjangoModelFactory[DispositionSet]):
    class Meta:
        model = DispositionSet

    name = factory.Sequence(lambda n: f"Dispositions {n}")


class DispositionFactory(factory.django.DjangoModelFactory[Disposition]):
    class Meta:
        model = Disposition

    disposition_set = factory.SubFactory(DispositionSetFactory)
    name = factory.Sequence(lambda n: f"Disposition {n}")


class TemplateFactory(factory.django.DjangoModelFactory[CampaignTemplate]):
    """A template with fields Name, FirstPhone (phone) and SecondPhone (phone)."""

    class Meta:
        model = CampaignTemplate
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Template {n}")
    contact_hours = factory.SubFactory(ContactHoursFactory)
    disposition_set = factory.SubFactory(DispositionSetFactory)

    @factory.post_generation
    def with_fields(self, create: bool, extracted: object, **kwargs: object) -> None:
        if not create or extracted is False:
            return
        for position, (name, is_phone) in enumerate(
            [("Name", False), ("FirstPhone", True), ("SecondPhone", True)]
        ):
            TemplateField.objects.create(
                template=self, name=name, is_phone=is_phone, position=position
            )


class CampaignFactory(factory.django.DjangoModelFactory[Campaign]):
    class Meta:
        model = Campaign

    template = factory.SubFactory(TemplateFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")


class AllocationFactory(factory.django.DjangoModelFactory[Allocation]):
    class Meta:
        model = Allocation

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"Allocation {n}")
    started = True


class LeadFactory(factory.django.DjangoModelFactory[Lead]):
    class Meta:
        model = Lead

    allocation = factory.SubFactory(AllocationFactory)
    campaign = factory.SelfAttribute("allocation.campaign")
    fields = factory.Dict({"Name": factory.Faker("name")})


class LeadPhoneFactory(factory.django.DjangoModelFactory[LeadPhone]):
    class Meta:
        model = LeadPhone

    lead = factory.SubFactory(LeadFactory)
    campaign = factory.SelfAttribute("lead.campaign")
    field_name = "FirstPhone"
    number = factory.Sequence(lambda n: f"+613{n:08d}")  # E.164, as every door stores it


class DncEntryFactory(factory.django.DjangoModelFactory[DncEntry]):
    class Meta:
        model = DncEntry

    number = factory.Sequence(lambda n: f"+614{n:08d}")


class ApiKeyFactory(factory.django.DjangoModelFactory[ApiKey]):
    """Pass ``plain=`` to choose the key; the factory stores only its hash."""

    class Meta:
        model = ApiKey
        exclude = ("plain",)

    name = factory.Sequence(lambda n: f"key {n}")
    plain = factory.Sequence(lambda n: f"test-api-key-{n:020d}")
    key_hash = factory.LazyAttribute(lambda o: hash_secret(o.plain))
    key_prefix = factory.LazyAttribute(lambda o: o.plain[:8])


class ApiTokenFactory(factory.django.DjangoModelFactory[ApiToken]):
    """A staff user's bearer token; pass ``plain=`` to choose it (stored by ``set_token``)."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory, is_staff=True)

    @classmethod
    def _create(cls, model_class: type[ApiToken], *args: object, **kwargs: object) -> ApiToken:
        plain = str(kwargs.pop("plain"))
        token = model_class(**kwargs)
        token.set_token(plain)
        token.save()
        return token


# The writer tests name in a versioned write (lead_version.lead_write).
TESTS = ChangeBy(Door.ADMIN, "tests")
TESTS_ORIGIN = NewOrigin(Door.ADMIN, "tests", "tests")
