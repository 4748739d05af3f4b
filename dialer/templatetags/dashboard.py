"""``{% campaign_dashboard %}``: the admin home page's figures per active campaign."""

from __future__ import annotations

from typing import Any

from django import template

from dialer.stats import dashboard

register = template.Library()


@register.inclusion_tag("admin/dialer/dashboard.html", takes_context=True)
def campaign_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    return {"campaigns": dashboard(request.user), "request": request}
