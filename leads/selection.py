"""Which leads: the one filter of the lead list (``/api/v1/leads/``), the admin's lead list
actions and the bulk jobs (``leads.services.lead_job``), so a job runs over exactly the leads
the list showed. Always within the campaigns the user sees."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from campaigner.contract import Refusal, Refused
from campaigner.models import Campaign
from campaigner.selectors import campaign_ids_visible
from leads.models import Lead, LeadPhone
from leads.selectors import lead_words_search, phone_normaliser_load

# A search by number or words lists at most this many leads (more: narrow it).
MATCHES_MOST = 10_000


class _Ids(filters.BaseInFilter, filters.NumberFilter):
    pass


class LeadSelection(filters.FilterSet):
    ids = _Ids(field_name="id", help_text="Lead ids, comma separated")
    campaign = filters.NumberFilter(field_name="campaign_id")
    allocation = filters.NumberFilter(field_name="allocation_id")
    externalId = filters.CharFilter(field_name="external_id")
    phone = filters.CharFilter(method="filter_phone", help_text="Normalised before matching")
    disposition = filters.CharFilter(
        method="filter_disposition", help_text="A disposition's name; 'none' for new leads"
    )
    dispositionId = filters.NumberFilter(field_name="disposition_id")
    closed = filters.BooleanFilter()
    priority = filters.NumberFilter()
    priorityMin = filters.NumberFilter(field_name="priority", lookup_expr="gte")
    priorityMax = filters.NumberFilter(field_name="priority", lookup_expr="lte")
    callbackAfter = filters.IsoDateTimeFilter(field_name="callback_at", lookup_expr="gte")
    callbackBefore = filters.IsoDateTimeFilter(field_name="callback_at", lookup_expr="lt")
    hasCallback = filters.BooleanFilter(
        field_name="callback_at", lookup_expr="isnull", exclude=True
    )
    createdAfter = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    createdBefore = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    origin = filters.NumberFilter(
        field_name="origin_id", help_text="The batch call or import that inserted the lead"
    )
    leadImport = filters.NumberFilter(
        method="filter_import", help_text="The manual import that inserted the lead"
    )
    text = filters.CharFilter(
        method="filter_text", help_text="Text in any template field (any case)"
    )
    search = filters.CharFilter(
        method="filter_search",
        help_text="The admin's search: an external id, a phone number however written, or"
        " words (each the beginning of a word of a field's value, any case)",
    )

    class Meta:
        model = Lead
        fields = (
            "ids", "campaign", "allocation", "externalId", "phone", "disposition",
            "dispositionId", "closed", "priority",
            "priorityMin", "priorityMax", "callbackAfter", "callbackBefore", "hasCallback",
            "createdAfter", "createdBefore", "origin", "leadImport", "text", "search",
        )  # fmt: skip

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user if user is not None else getattr(self.request, "user", None)

    def filter_disposition(self, queryset: QuerySet[Lead], name: str, value: str) -> Any:
        if value.lower() == "none":
            return queryset.filter(disposition__isnull=True)
        return queryset.filter(disposition__name__iexact=value)

    def filter_import(self, queryset: QuerySet[Lead], name: str, value: int) -> Any:
        return queryset.filter(origin__lead_import_id=value)

    def filter_text(self, queryset: QuerySet[Lead], name: str, value: str) -> Any:
        return queryset.filter(fields__icontains=value)

    def filter_phone(self, queryset: QuerySet[Lead], name: str, value: str) -> Any:
        number = phone_normaliser_load()(value)
        if number is None:
            return queryset.none()
        return queryset.filter(pk__in=self._with_number(number))

    def filter_search(self, queryset: QuerySet[Lead], name: str, value: str) -> Any:
        """An external id; a number in any spelling (through the number index only, never a
        scan of the fields); else leads whose field values have words beginning with every
        word searched ("jan CIT" finds a FirstName Jane and a LastName Citizen), through the
        words index (``leads.services.lead_words``). At most ``MATCHES_MOST`` leads besides
        the external id's."""
        term = value.strip()
        # Through the (campaign, external id) index, campaign by campaign.
        by_id = Q(campaign_id__in=self._campaign_ids(), external_id=term)
        number = phone_normaliser_load()(term)
        if number is not None:
            # The few leads with the number, looked up first: the list's query is then two
            # index lookups, not a scan with a subquery per lead.
            ids = list(self._with_number(number).values_list("lead_id", flat=True)[:MATCHES_MOST])
            return queryset.filter(by_id | Q(pk__in=ids))
        # Likewise the leads with the words, looked up first.
        ids = lead_words_search(term, self._campaign_ids(), MATCHES_MOST)
        return queryset.filter(by_id | Q(pk__in=ids))

    def _campaign_ids(self) -> list[int]:
        visible: Any = campaign_ids_visible(self.user)
        return list(
            (Campaign.objects.values("pk") if visible is None else visible).values_list(
                "pk", flat=True
            )
        )

    def _with_number(self, number: str) -> Any:
        """The ids of the leads with ``number``, through the (campaign, number) index:
        campaign_id = ANY(every campaign the user sees), not a scan of the numbers."""
        phones = LeadPhone.objects.filter(number=number, campaign__in=self._campaign_ids())
        return phones.values("lead_id")


# The filter's parameters, in order (a job's ``selection`` keeps only these).
SELECTION_KEYS = tuple(LeadSelection.base_filters)


def leads_visible(user: Any) -> QuerySet[Lead]:
    visible = campaign_ids_visible(user)
    leads = Lead.objects.all()
    return leads if visible is None else leads.filter(campaign__in=visible)


def lead_selection(user: Any, selection: dict[str, Any]) -> QuerySet[Lead]:
    """The leads ``selection`` (the lead list's filter parameters) picks among those ``user``
    sees; ``Refused(INVALID)`` naming the parameter when one is not valid."""
    unknown = sorted(set(selection) - set(SELECTION_KEYS))
    if unknown:
        raise Refused(Refusal.INVALID, f"not a lead filter: {', '.join(unknown)}", "selection")
    chosen = LeadSelection(
        data={k: v for k, v in selection.items() if v not in (None, "")},
        queryset=leads_visible(user),
        user=user,
    )
    if not chosen.is_valid():
        field, errors = next(iter(chosen.errors.items()))
        raise Refused(Refusal.INVALID, f"{field}: {' '.join(errors)}", "selection")
    return chosen.qs
