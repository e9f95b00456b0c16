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


def test_static_files_are_served_on_the_async_path(db):
    """WhiteNoise runs natively under ASGI: the stylesheet arrives whole."""
    import httpx
    from asgiref.sync import async_to_sync

    from orchestration.asgi import application

    async def fetch():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/static/css/portal.css")

    response = async_to_sync(fetch)()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert len(response.content) == int(response.headers["content-length"]) > 1000
