"""A Django task of the shop, run on the ledger (`TASKS` in the example settings)."""

from __future__ import annotations

from example_project.shop.models import Order

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]


@task(queue_name="emails", max_attempts=3)
def send_receipt(order_id: int) -> str:
    """What a receipt e-mail would say; returned, so the demo can show the task's result."""
    order = Order.objects.get(pk=order_id)
    return f"Receipt for {order.customer}: {order.amount}"
