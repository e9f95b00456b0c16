import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin user if there is no superuser yet, and say how to log in."

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin user exists; log in with your credentials.")
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username, f"{username}@localhost", password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the admin user. Log in as {username!r} with password {password!r}"
            )
        )
