"""A small shop: orders are processed in the background once they are paid."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ash_oban_django import ScheduledAction, Trigger


class PaymentDeclined(Exception):
    pass


class Order(models.Model):
    customer = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    paid = models.BooleanField(default=False)
    processed = models.BooleanField(default=False)
    processed_at = models.DateTimeField(null=True, blank=True)
    errored = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    class Oban:
        triggers = [
            Trigger(
                "process",
                where=Q(paid=True, processed=False, errored=False),
                scheduler_cron="* * * * *",
                on_error="mark_errored",
                max_attempts=2,
                backoff=1,
                worker_name="shop.Order:process",
                scheduler_name="shop.Order:process:scheduler",
            ),
        ]
        scheduled_actions = [
            ScheduledAction("import_orders", "0 */6 * * *", worker_name="shop.Order:import_orders"),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.customer}, {self.amount})"

    def process(self, **inputs: Any) -> None:
        if self.amount <= Decimal("0"):
            raise PaymentDeclined(f"cannot charge {self.amount}")
        self.processed = True
        self.processed_at = timezone.now()
        self.save(update_fields=["processed", "processed_at"])

    def mark_errored(self, *, error: BaseException) -> None:
        self.errored = True
        self.error = f"{type(error).__name__}: {error}"
        self.save(update_fields=["errored", "error"])

    @classmethod
    def import_orders(cls, **inputs: Any) -> None:
        """Pretend to pull new paid orders from a marketplace."""
        cls.objects.create(customer="marketplace", amount=Decimal("10.00"), paid=True)
