"""``{% campaign_dashboard %}``: the admin home page's figures per active campaign."""

from __future__ import annotations

from typing import Any

from django import template

from dialer.stats import dashboard

register = template.Library()


@register.inclusion_tag("admin/dialer/dashboard.html", takes_context=True)
def campaign_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    rows = dashboard(request.user)
    return {
        "campaigns": [row for row in rows if not row.empty],
        "empty": [row.campaign for row in rows if row.empty],  # folded into one line
        "request": request,
    }
