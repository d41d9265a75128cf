"""Every operation of openapi/openapi.json on its success path, with real
data, each answer checked against the document (status, content type,
headers and body schema) by Schemathesis's own checks. Random generation
rarely reaches these paths (it cannot know a device's serial number or a
challenge's code), so this walk is the half of the contract check that
proves the success schemas.

    python scripts/contract_examples.py BASE_URL AUTH_TOKEN "Apikey KEY" CALLBACK_TOKEN
"""

import base64
import datetime
import sys
import time
import uuid

import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
DEVICE_KEY = "bc41ec9530f6dac86b1a29ab82edc5fb"
V4 = "/api/license/management/v4"
VENDOR = "/API/Public/v1"
CHALLENGES = "/v1/mfa/challenges/activation"


class Walk:
    def __init__(self, base, api_key):
        self.base = base
        self.schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        self.bearer = None
        self.api_key = api_key
        self.called = set()

    def call(self, method, path, status, *, auth="bearer", params=None, body=None,
             query=None, form=None, headers=None):
        operation = self.schema[path][method]
        all_headers = dict(headers or {})
        if auth == "bearer":
            all_headers["Authorization"] = self.bearer
        elif auth == "apikey":
            all_headers["Authorization"] = self.api_key
        kwargs = {"path_parameters": params or {}, "query": query or {}, "headers": all_headers}
        if form is not None:
            kwargs["body"] = form
            kwargs["media_type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        case = operation.Case(**kwargs)
        response = case.call(base_url=self.base)
        if response.status_code != status:
            raise SystemExit(
                f"{method} {path}: expected {status}, got {response.status_code}: {response.text}"
            )
        case.validate_response(response, checks=CHECKS)
        self.called.add((method, path))
        # Schemathesis keeps every value of a header, in a list.
        headers = {name.lower(): value[0] if isinstance(value, list) else value
                   for name, value in response.headers.items()}
        if "json" in headers.get("content-type", "") and response.content:
            return response.json(), headers
        return response.text, headers


def device_key_pair():
    private = ec.generate_private_key(ec.SECP256R1())
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(spki).decode()


def in_days(days):
    """An RFC 3339 time `days` from now: desired-state targets must lie
    within the 999 days a code carries."""
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(base, auth_token, api_key, callback_token):
    walk = Walk(base, api_key)
    call = walk.call

    access, _ = call("POST", "/auth", 200, auth=None, body={"token": auth_token, "tokenType": "auth"})
    walk.bearer = f"Bearer {access['accessToken']}"

    # Devices, codes and a batch.
    call("POST", "/devices", 201, body={"serialNum": "CT-1", "protocol": "openpaygo",
         "secretKey": DEVICE_KEY, "startingCode": 516959010}, headers={"Idempotency-Key": "dev-1"})
    call("POST", "/devices", 201, body={"serialNum": "CT-N", "protocol": "nexus_full"})
    call("GET", "/devices", 200, query={"limit": 10})
    call("GET", "/devices/{serialNum}", 200, params={"serialNum": "CT-1"})
    call("POST", "/codes", 201, body={"serialNum": "CT-1", "codeType": "add_time", "arg": 3})
    call("POST", "/codes", 201, body={"serialNum": "CT-N", "codeType": "unlock"})
    call("GET", "/codes", 200, query={"serialNum": "CT-1", "order": "asc"})
    call("POST", "/devices", 201, body={"serialNum": "CT-MOVED", "protocol": "nexus_small",
         "credit": {"state": "active", "until": "2099-01-01T00:00:00Z"}})
    soonest, _ = call("GET", "/devices", 200,
                      query={"state": "active", "expiringBefore": "2100-01-01T00:00:00Z", "limit": 1})
    assert soonest["devices"][0]["serialNum"] == "CT-1", soonest
    moved, _ = call("PUT", "/devices/{serialNum}/credit", 201, params={"serialNum": "CT-N"},
                    body={"until": in_days(30)}, headers={"Idempotency-Key": "credit-1"})
    assert moved["code"]["codeType"] == "set_time", moved
    call("PUT", "/devices/{serialNum}/credit", 200, params={"serialNum": "CT-N"},
         body={"until": moved["credit"]["until"]})
    call("PUT", "/devices/{serialNum}/plan", 200, params={"serialNum": "CT-1"},
         body={"currency": "KES", "dailyRate": "50", "totalPrice": "18000", "downPayment": "1500",
               "minimumPayment": "50"})
    call("GET", "/devices/{serialNum}/plan", 200, params={"serialNum": "CT-1"})
    paid, _ = call("POST", "/payments", 201, body={
        "serialNum": "CT-1", "amount": "175", "currency": "KES", "reference": "CT-PAY-1",
        "paidAt": "2026-11-22T10:00:00Z", "payer": {"phone": "254708374149", "name": "John Doe"}},
        headers={"Idempotency-Key": "pay-1"})
    assert paid["code"]["arg"] == 3 and paid["balance"] == "25", paid
    call("POST", "/payments", 201, body={
        "serialNum": "CT-1", "amount": "10", "currency": "KES", "reference": "CT-PAY-2",
        "paidAt": "2026-11-22T11:00:00Z"})
    listed, _ = call("GET", "/payments", 200, query={"serialNum": "CT-1", "limit": 1})
    assert listed["nextCursor"], listed
    ledger, _ = call("GET", "/devices/{serialNum}/ledger", 200, params={"serialNum": "CT-1"},
                     query={"limit": 50})
    kinds = [e["type"] for e in ledger["entries"]]
    assert kinds.count("payment") == 2 and "code" in kinds, ledger
    # M-Pesa: Daraja's validation, then its confirmation twice (Safaricom
    # repeats them): one payment, one code.
    daraja = {"TransactionType": "Pay Bill", "TransID": "CTMPESA001", "TransTime": "20261122133045",
              "TransAmount": "100.00", "BusinessShortCode": "600638", "BillRefNumber": "CT-1",
              "InvoiceNumber": "", "OrgAccountBalance": "49197.00", "ThirdPartyTransID": "",
              "MSISDN": "2547 ***** 149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"}
    mpesa = {"callbackToken": callback_token}
    verdict, _ = call("POST", "/payments/mpesa/{callbackToken}/validation", 200, auth=None,
                      params=mpesa, body=daraja)
    assert verdict["ResultCode"] == 0, verdict
    verdict, _ = call("POST", "/payments/mpesa/{callbackToken}/validation", 200, auth=None,
                      params=mpesa, body={**daraja, "BillRefNumber": "GHOST"})
    assert verdict["ResultCode"] == "C2B00012", verdict
    for _ in range(2):
        taken, _ = call("POST", "/payments/mpesa/{callbackToken}/confirmation", 200, auth=None,
                        params=mpesa, body=daraja)
        assert taken == {"ResultCode": 0, "ResultDesc": "Success"}, taken
    taken, _ = call("GET", "/payments", 200, query={"serialNum": "CT-1", "from": "2026-11-22T10:30:45Z",
                                                     "to": "2026-11-22T10:30:45Z"})
    assert [p["payment"]["reference"] for p in taken["payments"]] == ["CTMPESA001"], taken
    assert taken["payments"][0]["code"]["arg"] == 2, taken
    # Webhooks: an endpoint on loopback (the only kind this run delivers
    # to), its test event, and the deliveries the in-process courier made.
    hook, _ = call("POST", "/webhooks", 201, body={
        "url": "http://127.0.0.1:9/hook", "events": ["payment.received"], "description": "contract"})
    assert hook["secret"].startswith("whsec_"), hook
    hook_id = {"id": hook["id"]}
    listed, _ = call("GET", "/webhooks", 200)
    assert hook["id"] in [e["id"] for e in listed["endpoints"]], listed
    shown, _ = call("GET", "/webhooks/{id}", 200, params=hook_id)
    assert "secret" not in shown, shown
    call("PATCH", "/webhooks/{id}", 200, params=hook_id, body={"rotateSecret": True})
    sent, _ = call("POST", "/webhooks/{id}/test", 202, params=hook_id)
    # The courier may also be catching up on payments the fuzzer made:
    # look for the test event's own delivery.
    delivery = None
    for _ in range(100):
        found, _ = call("GET", "/webhooks/{id}/deliveries", 200, params=hook_id)
        delivery = next((d for d in found["deliveries"]
                         if d["eventId"] == sent["eventId"] and d["attempts"]), None)
        if delivery:
            break
        time.sleep(0.1)
    assert delivery, found
    assert delivery["attempts"][0]["error"].startswith("connection failed"), delivery
    call("POST", "/webhooks/{id}/deliveries/{deliveryId}/retry", 202,
         params={**hook_id, "deliveryId": delivery["id"]})
    call("DELETE", "/webhooks/{id}", 204, params=hook_id)
    call("GET", "/webhooks/{id}", 404, params=hook_id)

    batch, headers = call("POST", "/batch", 202, body={"items": [
        {"serialNum": "CT-1", "codeType": "add_time", "arg": 1},
        {"serialNum": "GHOST", "codeType": "unlock"}]})
    for _ in range(100):
        detail, _ = call("GET", "/batch/{id}", 200, params={"id": batch["id"]})
        if detail["status"] not in ("pending", "running"):
            break
        time.sleep(0.1)
    call("GET", "/batch/{id}", 200, params={"id": batch["id"]}, query={"format": "csv"})
    call("GET", "/batch", 200)

    # AminoTV v4, with the API key on some calls and the access token on others.
    product, _ = call("POST", f"{V4}/products", 201, auth="apikey",
                      body={"name": "Contract suite", "sku": "contract-suite", "latest_version": "1.0"})
    spare, _ = call("POST", f"{V4}/products", 201, body={"name": "Spare"})
    call("GET", f"{V4}/products", 200, auth="apikey")
    call("GET", f"{V4}/products/{{product_id}}", 200, params={"product_id": product["id"]})
    call("PATCH", f"{V4}/products/{{product_id}}", 200, params={"product_id": product["id"]},
         body={"description": "For the contract check"})
    license_, _ = call("POST", f"{V4}/licenses", 201, auth="apikey", body={
        "product_id": product["id"], "user_id": "holder-1", "order_id": "order-1",
        "user": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                 "email_verified": True, "country_code": "GBR"}})
    call("GET", f"{V4}/licenses", 200, query={"product_id": product["id"], "status": "active"})
    call("GET", f"{V4}/licenses/{{license_id}}", 200, params={"license_id": license_["id"]})
    call("GET", f"{V4}/users/{{user_id}}/licenses", 200, params={"user_id": "holder-1"})
    created, _ = call("POST", f"{V4}/licenses/batch_create", 200, body={"licenses": [
        {"product_id": product["id"], "user_id": "holder-2"},
        {"product_id": str(uuid.uuid4()), "user_id": "holder-3"}]})
    new_id = created["results"][0]["license_id"]
    call("POST", f"{V4}/licenses/batch_delete", 200, body={"license_ids": [new_id, str(uuid.uuid4())]})
    other, _ = call("POST", f"{V4}/licenses", 201, body={"product_id": product["id"], "user_id": "holder-4"})
    call("DELETE", f"{V4}/licenses/{{license_id}}", 204, params={"license_id": other["id"]})

    # The vendor API.
    call("GET", f"{VENDOR}/Accounts/r1/GetProductLicenses", 200, auth="apikey",
         query={"productId": product["id"]})
    call("GET", f"{VENDOR}/Licenses/r1/GetPublic", 200, auth=None, query={"key": license_["key"]})
    call("GET", f"{VENDOR}/Licenses/r1/Get", 200, auth="apikey", query={"key": license_["key"]})
    token, _ = call("POST", f"{VENDOR}/Authentication/r1/CreateToken", 200, auth=None,
                    form={"licenseKey": license_["key"]})
    call("GET", f"{VENDOR}/Authentication/r1/GetTokenValidity", 200, auth="apikey",
         query={"token": token["response"]["token"]})
    call("POST", f"{VENDOR}/Discounts/r1/Create", 200, auth="apikey",
         form={"productSku": "contract-suite", "percentage": "15", "usageLimit": "10"})

    # The subscription API, through a signed activation by a P-256 device.
    device, owner = device_key_pair()
    made, _ = call("POST", "/create", 200, auth="apikey", body={
        "type": "CONTRACT_PERPETUAL", "name": "Contract seat", "status": "ACTIVE", "price": "1000"})
    license_id = made["payload"]["id"]
    call("POST", "/query/license", 200, body={"limit": 10, "filter": {"id": license_id}})
    deployed, _ = call("POST", "/deploy/{id}", 200, params={"id": license_id},
                       body={"owner": owner, "contract": {"blockchain": "ETHEREUM"}})
    contract = deployed["payload"]["contract"]
    nonce, _ = call("POST", "/activation/nonce", 200, body={"address": owner})
    signature = device.sign(nonce["payload"]["nonce"].encode(), ec.ECDSA(hashes.SHA256()))
    call("POST", "/activation/activate", 200, body={
        "address": owner, "contract": contract["address"], "tokenId": contract["tokenId"],
        "nonce": nonce["payload"]["nonce"], "sign": base64.b64encode(signature).decode()})

    # Activation challenges.
    challenge, _ = call("POST", CHALLENGES, 201, body={
        "person_id": "person-1", "origin": "MOBILE_APP", "purpose": "DEVICE_BINDING",
        "delivery_method": "SNAILMAIL"})
    cid = {"id": challenge["id"]}
    call("GET", CHALLENGES, 200, query={"page[size]": 5, "filter[person_id]": "person-1"})
    call("GET", f"{CHALLENGES}/{{id}}", 200, params=cid)
    call("POST", f"{CHALLENGES}/{{id}}/verify", 200, params=cid,
         body={"person_id": "person-1", "code": challenge["code"]})
    _, headers = call("POST", f"{CHALLENGES}/{{id}}/delivery_events", 201, params=cid, body={
        "type": "DISPATCHED", "timestamp": "2026-11-20T09:00:00Z", "provider": "Royal Mail"})
    event_id = headers["location"].rsplit("/", 1)[1]
    call("GET", f"{CHALLENGES}/{{id}}/delivery_events", 200, params=cid)
    call("GET", f"{CHALLENGES}/{{id}}/delivery_events/{{event_id}}", 200,
         params={"id": challenge["id"], "event_id": event_id})
    call("DELETE", f"{CHALLENGES}/{{id}}", 204, params=cid)

    # Products last: one unused, one forced with its licenses.
    call("DELETE", f"{V4}/products/{{product_id}}", 204, params={"product_id": spare["id"]})
    call("DELETE", f"{V4}/products/{{product_id}}", 204, params={"product_id": product["id"]},
         query={"force": "true"})

    documented = {(op.method.upper(), op.path)
                  for op in (r.ok() for r in walk.schema.get_all_operations())}
    missing = sorted(documented - walk.called)
    if missing:
        raise SystemExit(f"operations the walk never reached: {missing}")
    print(f"contract examples: {len(walk.called)} operations answered as documented")


if __name__ == "__main__":
    main(*sys.argv[1:5])
