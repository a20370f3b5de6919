"""Delivering the outbox: webhook and ntfy push with retries, backoff and a delivery log."""

from ecopatrol.delivery.install import install_delivery
from ecopatrol.delivery.worker import DeliveryWorker

__all__ = ["DeliveryWorker", "install_delivery"]
