"""The soak reuses the end-to-end fixtures (the app on the emulators and Azurite)."""
from tests.e2e.conftest import _app, _app_host, _customer_creates_from_crm  # noqa: F401
