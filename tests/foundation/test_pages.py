from django.urls import reverse


def test_health_endpoint_is_public(visitor_client):
    response = visitor_client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_login_page_is_public_and_home_needs_login(visitor_client):
    assert visitor_client.get(reverse("login")).status_code == 200
    response = visitor_client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_then_dashboard(visitor_client, owner):
    response = visitor_client.post(
        reverse("login"), {"username": "owner", "password": "owner-pass-123"}
    )
    assert response.status_code == 302
    assert visitor_client.get(reverse("home")).status_code == 200
