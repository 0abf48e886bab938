"""The gallery end to end in headless chromium, against the image service on the local cloud.

One person's session, as the issue tells it: sign in, upload two real images (one picked, one
dropped) and a text file renamed .jpg, see two thumbnails and one refusal with its reason,
filter by tag, open one and read its dimensions, tag it and make it public, find it among the
public images, delete the other and see it gone. Then the edges: an expired token leads back to
sign-in, and the page fits a phone's width.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from playwright.sync_api import Locator, Page, expect

from localcloud.dev_issuer import DevIssuer
from localcloud.gallery import GalleryServer, build_server, serve_in_thread
from tests import images
from tests.browser.conftest import Steps
from tests.browser.oidc_provider import CLIENT_ID, Provider, ProviderServer
from tests.integration.conftest import ImageApi, png_bytes, upload_image, wait_until_available

# web/src/gallery.ts: images per page of the grid.
PAGE_SIZE = 24

# How the gallery writes dimensions: width, a multiplication sign, height.
TIMES = "\N{MULTIPLICATION SIGN}"
# Processing on a busy local cloud can take a while; nothing here asserts how long.
PROCESSED = 120_000


def sign_in(page: Page, gallery: GalleryServer, user: str) -> None:
    page.goto(gallery.origin + "/")
    page.fill("#user-name", user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {user}")


def cards(page: Page) -> Locator:
    return page.locator("#grid li.card")


def drop_files(page: Page, files: dict[str, tuple[bytes, str]]) -> None:
    """Drops ``files`` (name -> (bytes, type)) on the upload zone, as a drag from the desktop would."""
    payload = {name: [base64.b64encode(data).decode(), kind] for name, (data, kind) in files.items()}
    page.evaluate(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, [data, type]] of Object.entries(files)) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type }));
            }
            const zone = document.getElementById("drop-zone");
            const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
            zone.dispatchEvent(new DragEvent("dragover", options));
            zone.dispatchEvent(new DragEvent("drop", options));
        }""",
        payload,
    )


def upload_row(page: Page, file_name: str) -> Locator:
    return page.locator(f'#uploads li[data-file="{file_name}"] .upload-status')


def test_a_person_manages_their_images_in_the_gallery(
    page: Page, gallery: GalleryServer, api: str, steps: Steps, problems: list[str], tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    user = f"gallery-{run}"
    holiday = f"holiday-{run}"

    # Sign in as any user name (the local development issuer): an empty gallery says so.
    page.goto(gallery.origin + "/")
    expect(page.locator("#user-name")).to_be_focused()
    steps.shot("sign-in")
    sign_in(page, gallery, user)
    expect(page.locator("#grid-status")).to_have_text(re.compile("You have no images yet"))
    steps.shot("empty-gallery")

    # Upload: a JPEG picked with the file chooser, tagged beach...
    sunset = tmp_path / "sunset.jpg"
    sunset.write_bytes(images.jpeg(64, 48, seed=1))
    page.fill("#upload-tags", "beach")
    page.set_input_files("#file-input", [str(sunset)])
    # ... then a PNG and a text file named .jpg dropped together, tagged woods.
    page.fill("#upload-tags", "woods")
    drop_files(
        page,
        {
            "forest.png": (images.png(40, 30, seed=2), "image/png"),
            "notes.jpg": (b"a shopping list, not a photo\n", "image/jpeg"),
        },
    )
    # Each file has its own progress and ends available, or rejected with the reason in words.
    expect(page.locator("#uploads li.upload")).to_have_count(3)
    expect(upload_row(page, "sunset.jpg")).to_have_attribute("data-state", "available", timeout=PROCESSED)
    expect(upload_row(page, "forest.png")).to_have_attribute("data-state", "available", timeout=PROCESSED)
    expect(upload_row(page, "notes.jpg")).to_have_attribute("data-state", "rejected", timeout=PROCESSED)
    expect(upload_row(page, "notes.jpg")).to_contain_text("not an image the gallery accepts")
    expect(page.locator('#uploads li[data-file="sunset.jpg"] progress')).to_have_js_property("value", 1)

    # Two thumbnails, newest first, each loaded from its presigned URL.
    expect(cards(page)).to_have_count(2)
    thumbnails = page.locator("#grid li.card img")
    for index in range(2):
        expect(thumbnails.nth(index)).to_have_js_property("complete", True)
        assert thumbnails.nth(index).evaluate("img => img.naturalWidth") > 0
    ids = cards(page).evaluate_all("cards => cards.map((card) => card.dataset.imageId)")
    steps.shot("uploaded-two-refused-one")

    # Filter by tag: only the beach image.
    page.fill("#filter-tag", "beach")
    page.click("#apply-filters")
    expect(cards(page)).to_have_count(1)
    beach_id = cards(page).first.get_attribute("data-image-id")
    forest_id = next(image_id for image_id in ids if image_id != beach_id)
    steps.shot("filtered-by-tag")

    # Open it: its facts, dimensions first.
    cards(page).first.locator("button").click()
    dialog = page.locator("#detail")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-fact="dimensions"]')).to_have_text(f"64 {TIMES} 48 px")
    expect(dialog.locator('[data-fact="format"]')).to_have_text("JPEG")
    expect(dialog.locator('[data-fact="visibility"]')).to_contain_text("Private")
    # (the preview variant: never scaled up, so as wide as the original)
    page.wait_for_function("() => document.querySelector('#detail img.preview').naturalWidth > 0")
    assert dialog.locator("img.preview").evaluate("img => img.naturalWidth") == 64
    steps.shot("detail")

    # Add a tag and make it public.
    page.fill("#edit-tags", f"beach, {holiday}")
    page.check("#edit-public")
    page.click("#save-edit")
    expect(dialog.locator("#detail-notice")).to_have_text("Saved.")
    expect(dialog.locator('[data-fact="visibility"]')).to_contain_text("Public")
    expect(dialog.locator('[data-fact="tags"]')).to_have_text(f"beach, {holiday}")
    steps.shot("edited-public")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Everyone's public images, by the new tag: it is there.
    page.click("#scope-public")
    expect(page.locator("#scope-public")).to_have_attribute("aria-pressed", "true")
    page.fill("#filter-tag", holiday)
    page.click("#apply-filters")
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_have_attribute("data-image-id", beach_id or "")
    expect(cards(page).first).to_contain_text("Public")
    steps.shot("found-among-public")

    # Back to mine, unfiltered; delete the forest image, confirming first.
    page.click("#scope-mine")
    page.click("#clear-filters")
    expect(cards(page)).to_have_count(2)
    page.locator(f'#grid li[data-image-id="{forest_id}"] button').click()
    expect(dialog.locator('[data-fact="dimensions"]')).to_have_text(f"40 {TIMES} 30 px")
    page.click("#delete-image")
    expect(page.locator("#confirm-delete")).to_be_visible()
    steps.shot("delete-confirmation")
    page.click("#confirm-delete")
    expect(dialog).to_be_hidden()
    expect(page.locator(f'#grid li[data-image-id="{forest_id}"]')).to_have_count(0)
    expect(cards(page)).to_have_count(1)
    # ... and gone for the service too, not only from the page.
    page.reload()
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_have_attribute("data-image-id", beach_id or "")
    steps.shot("deleted")

    assert problems == []


def test_scrolling_down_loads_the_next_page(
    page: Page, gallery: GalleryServer, deployed_api: ImageApi, steps: Steps, problems: list[str]
) -> None:
    # Given a user with more images than one page holds (made through the API, four at a time)
    user = f"gallery-{uuid.uuid4().hex[:8]}"
    owner = deployed_api.as_user(user)
    count = PAGE_SIZE + 6
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda seed: upload_image(owner, user, data=png_bytes(seed=seed)), range(count)))
        list(pool.map(lambda image_id: wait_until_available(owner, image_id), ids))

    # When they sign in on a screen that shows part of the first page
    page.set_viewport_size({"width": 800, "height": 600})
    sign_in(page, gallery, user)

    # Then one page is listed, and scrolling to its end lists the rest (the list's cursor), once each
    expect(cards(page)).to_have_count(PAGE_SIZE)
    expect(page.locator("#grid-status")).to_have_text(f"{PAGE_SIZE} images so far…")
    steps.shot("first-page")
    page.locator(".sentinel").scroll_into_view_if_needed()
    expect(cards(page)).to_have_count(count)
    expect(page.locator("#grid-status")).to_have_text(f"{count} images")
    listed = cards(page).evaluate_all("cards => cards.map((card) => card.dataset.imageId)")
    assert sorted(listed) == sorted(ids)
    steps.shot("all-pages")
    assert problems == []


def test_an_expired_token_leads_back_to_sign_in(
    page: Page, gallery: GalleryServer, steps: Steps, problems: list[str]
) -> None:
    # Given a tab signed in with a token the API no longer accepts (expired a minute ago)
    user = f"gallery-{uuid.uuid4().hex[:8]}"
    sign_in(page, gallery, user)
    issuer = DevIssuer.load()
    expired = issuer.sign({**issuer.claims(user, expires_in=-60)})
    page.evaluate(
        """(token) => sessionStorage.setItem("gallery.session",
               JSON.stringify({ token, user: "x", expiresAt: Date.now() / 1000 + 3600 }))""",
        expired,
    )

    # When the gallery next calls the API
    page.reload()

    # Then it is back at sign-in, saying why
    expect(page.locator("#user-name")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("session has expired")
    steps.shot("expired-back-to-sign-in")
    assert problems == []


def test_the_gallery_fits_a_phone(
    page: Page, gallery: GalleryServer, steps: Steps, problems: list[str]
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, gallery, f"gallery-{uuid.uuid4().hex[:8]}")
    expect(page.locator("#grid-status")).to_have_text(re.compile("no images"))

    # Nothing wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # Keyboard: the scope switch and the file chooser are reachable with Tab.
    reached = set()
    for _ in range(15):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert {"scope-mine", "scope-public", "choose-files", "filter-tag"} <= reached
    steps.shot("phone")
    assert problems == []


def test_the_gallery_server_mints_tokens_for_its_own_page_only(gallery: GalleryServer) -> None:
    sign_in_url = gallery.origin + "/dev/sign-in"

    # The gallery's page: a token for the name
    mine = requests.post(sign_in_url, json={"user": "alice"}, headers={"Origin": gallery.origin}, timeout=10)
    assert mine.status_code == 200
    assert DevIssuer.load().description()["issuer"]  # (the same issuer the API trusts)

    # Another site's page, a form post, a bad name, a huge body, another host name: refused
    other = requests.post(
        sign_in_url, json={"user": "alice"}, headers={"Origin": "https://evil.example"}, timeout=10
    )
    form = requests.post(sign_in_url, data={"user": "alice"}, timeout=10)
    bad_name = requests.post(sign_in_url, json={"user": "al ice/.."}, timeout=10)
    huge = requests.post(sign_in_url, json={"user": "a" * 5000}, timeout=10)
    rebound = requests.post(
        sign_in_url,
        json={"user": "alice"},
        headers={"Host": f"attacker.example:{gallery.server_address[1]}"},
        timeout=10,
    )
    assert (
        other.status_code,
        form.status_code,
        bad_name.status_code,
        huge.status_code,
        rebound.status_code,
    ) == (
        403,
        415,
        400,
        400,
        421,
    )
    for answer in (other, form, bad_name, huge, rebound):
        assert "token" not in answer.json()

    # The site: config.json names the API and the local sign-in; no path leaves the site.
    config = requests.get(gallery.origin + "/config.json", timeout=10).json()
    assert config["auth"] == {"kind": "local", "sign_in_url": "/dev/sign-in"}
    assert config["api_url"].startswith("http://127.0.0.1:")
    assert (
        requests.get(gallery.origin + "/../../.localcloud/dev-issuer/signing-key.pem", timeout=10).status_code
        == 404
    )
    assert requests.get(gallery.origin + "/%2e%2e/%2e%2e/pyproject.toml", timeout=10).status_code == 404
    page = requests.get(gallery.origin + "/some/app/path", timeout=10)
    assert page.status_code == 200
    assert '<div id="app"' in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_signing_in_at_an_openid_connect_issuer_uses_the_code_flow_with_pkce(
    page: Page, steps: Steps, problems: list[str]
) -> None:
    # Given the gallery configured as the stack configures it in AWS for an external issuer
    user = f"gallery-{uuid.uuid4().hex[:8]}"
    provider = Provider(issuer=DevIssuer.load(), user=user)
    issuer = ProviderServer(provider)
    threading.Thread(target=issuer.serve_forever, daemon=True).start()
    site = build_server(0, auth={"kind": "oidc", "issuer": issuer.url, "client_id": CLIENT_ID})
    serve_in_thread(site)
    try:
        # When the person signs in
        page.goto(site.origin + "/")
        page.get_by_role("button", name="Sign in").click()

        # Then they went to the issuer with a PKCE challenge and came back signed in, with the
        # code exchanged (checked against the verifier) and gone from the address bar
        expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {user}")
        expect(page.locator("#grid-status")).to_have_text(re.compile("You have no images yet"))
        (authorization,) = provider.authorizations
        assert authorization["response_type"] == "code"
        assert authorization["code_challenge_method"] == "S256"
        assert authorization["redirect_uri"] == site.origin + "/"
        assert "openid" in authorization["scope"].split()
        assert provider.exchanges == ["ok"]
        assert "code=" not in page.url
        # The local development issuer's endpoint does not exist in this configuration
        assert requests.post(site.origin + "/dev/sign-in", json={"user": "x"}, timeout=10).status_code == 404
        steps.shot("signed-in-with-pkce")

        # And an answer that is not for this tab (a replayed or forged state) signs nobody in
        page.goto(f"{site.origin}/?code=stolen&state=forged")
        expect(page.get_by_role("alert")).to_contain_text("not for this tab")
        assert provider.exchanges == ["ok"]
    finally:
        site.shutdown()
        issuer.shutdown()
    assert problems == []
