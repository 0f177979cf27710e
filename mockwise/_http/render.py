"""Wise's response shapes for tokens, users and profiles (reference §2.3, §4, §11)."""

from __future__ import annotations

import math
from typing import Any

from mockwise._domain.clock import iso_millis, iso_nanos
from mockwise._domain.grants import Issued
from mockwise._domain.model import Profile, ProfileType, User
from mockwise._domain.settings import SCOPE, OAuth

JSON = dict[str, Any]


def seconds_left(expires_at: float, now: float) -> int:
    """Spring's truncation: a fresh 12 h token reports `expires_in: 43199` (§2.3, §2.7).
    Rounded to microseconds first: `(now + 628639556) - now` is not exact in floating point.
    `round(left, 6)` costs a decimal conversion, so it is taken only where it can decide: within
    0.1 µs of a whole second `left` rounds to that second, and beyond 1 µs rounding moves it across
    no whole second."""
    left = expires_at - now
    whole = round(left)
    off = abs(left - whole)
    if off < 1e-7:
        seconds = whole
    elif off < 1e-6:
        seconds = math.ceil(round(left, 6))
    else:
        seconds = math.ceil(left)
    return max(0, seconds - 1)


#: Fields no Wise document shows, added when `oauth.extra_token_fields` is on (RFC 6749 §5.1:
#: a client ignores what it does not know).
EXTRA_TOKEN_FIELDS: JSON = {"jti": None, "token_version": 2, "x_partner_tier": {"level": "standard"}}


def token_response(issued: Issued, now: float, settings: OAuth) -> JSON:
    access = issued.access
    body: JSON = {"access_token": issued.access_value, "token_type": settings.token_type}
    # RFC 6749 §6: without rotation the server may leave the refresh token out of a refresh answer
    omitted = issued.refreshed and not issued.rotated and settings.refresh_response_refresh_token == "omitted"
    if issued.refresh is not None and not omitted:
        body["refresh_token"] = issued.refresh_value
    if settings.token_response_fields == "minimal":  # RFC 6749 §5.1's required fields only
        return body | (_extra(access.id) if settings.extra_token_fields else {})
    body["expires_in"] = seconds_left(access.expires_at, now)
    legacy = settings.token_response_fields == "legacy"
    if not legacy:
        body["expires_at"] = iso_millis(access.expires_at)
    if issued.refresh is not None and not legacy:
        body["refresh_token_expires_in"] = seconds_left(issued.refresh.expires_at, now)
        body["refresh_token_expires_at"] = iso_millis(issued.refresh.expires_at)
    body["scope"] = SCOPE
    if issued.refresh is not None:
        body["created_at"] = iso_nanos(access.issued_at)
    return body | (_extra(access.id) if settings.extra_token_fields else {})


def _extra(token_id: str) -> JSON:
    return EXTRA_TOKEN_FIELDS | {"jti": token_id}


def new_user(user: User) -> JSON:
    """The answer to user creation over API: `name` and `details` are null (§4)."""
    return {"id": user.id, "name": None, "email": user.email, "active": user.active, "details": None}


def me(user: User, profiles: list[Profile]) -> JSON:
    """`GET /v1/me`, `GET /v1/users/{id}` (§11)."""
    if user.name is None and not profiles:
        return new_user(user)
    personal = next((p for p in profiles if p.type is ProfileType.PERSONAL), None)
    address = personal.address if personal is not None else (profiles[0].address if profiles else None)
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "active": user.active,
        "details": {
            "firstName": user.first_name,
            "lastName": user.last_name,
            "phoneNumber": user.phone_number,
            "occupation": personal.occupation if personal else "",
            "address": {
                "city": address.city,
                "countryCode": address.country,
                "postCode": address.post_code,
                "state": address.state,
                "firstLine": address.first_line,
            }
            if address is not None
            else None,
            "dateOfBirth": user.date_of_birth.isoformat() if user.date_of_birth else None,
            "avatar": "",
            "primaryAddress": personal.address_id if personal else None,
        },
    }


def profile_v1(profile: Profile) -> JSON:
    """Legacy `GET /v1/profiles`: lower-case `type` and a `details` object (§11)."""
    details: JSON
    if profile.type is ProfileType.PERSONAL:
        details = {
            "firstName": profile.first_name,
            "lastName": profile.last_name,
            "dateOfBirth": profile.date_of_birth.isoformat() if profile.date_of_birth else None,
            "phoneNumber": profile.phone_number,
            "avatar": "",
            "occupation": profile.occupation,
            "occupations": [],
            "primaryAddress": profile.address_id,
            "firstNameInKana": None,
            "lastNameInKana": None,
        }
    else:
        details = {
            "name": profile.business_name,
            "registrationNumber": profile.registration_number,
            "acn": None,
            "abn": None,
            "arbn": None,
            "companyType": profile.company_type,
            "companyRole": profile.company_role,
            "descriptionOfBusiness": profile.description,
            "webpage": profile.webpage,
            "primaryAddress": profile.address_id,
            "businessCategory": profile.category,
            "businessSubCategory": profile.sub_category,
        }
    return {"id": profile.id, "type": profile.type.value, "details": details}


def profile_v2(profile: Profile, user: User) -> JSON:
    """`GET /v2/profiles`: upper-case `type`, flat fields, `publicId` (§11)."""
    a = profile.address
    body: JSON = {
        "id": profile.id,
        "publicId": profile.public_id,
        "userId": profile.user_id,
        "type": profile.type.value.upper(),
        "address": {
            "id": profile.address_id,
            "addressFirstLine": a.first_line,
            "city": a.city,
            "countryIso2Code": a.country,
            "countryIso3Code": ISO3.get(a.country.upper(), a.country.lower()),
            "postCode": a.post_code,
            "stateCode": a.state or None,
        },
        "email": user.email,
        "createdAt": iso_millis(profile.created_at)[:-1],
        "updatedAt": iso_millis(profile.created_at)[:-1],
        "obfuscated": False,
        "avatar": "",
        "currentState": "VISIBLE",
        "contactDetails": {"email": user.email, "phoneNumber": user.phone_number},
        "fullName": profile.full_name,
    }
    if profile.type is ProfileType.PERSONAL:
        body |= {
            "firstName": profile.first_name,
            "lastName": profile.last_name,
            "preferredName": profile.preferred_name or None,
            "dateOfBirth": profile.date_of_birth.isoformat() if profile.date_of_birth else None,
            "phoneNumber": profile.phone_number,
            "secondaryAddresses": [],
        }
    else:
        body |= {
            "businessName": profile.business_name,
            "registrationNumber": profile.registration_number,
            "descriptionOfBusiness": profile.description,
            "webpage": profile.webpage,
            "companyType": profile.company_type,
            "companyRole": profile.company_role,  # in the 2026Q3 profile too (docs/calver-2026q3.md)
            "businessFreeFormDescription": profile.description,
            "firstLevelCategory": profile.category,
            "secondLevelCategory": profile.sub_category,
            "industryCategories": [c for c in (profile.category, profile.sub_category) if c],
            "operationalAddresses": [],
        }
    return body


# ISO 3166-1 alpha-2 → alpha-3 for the countries sandbox users are likely to have.
ISO3 = {
    "AT": "aut", "AU": "aus", "BE": "bel", "BG": "bgr", "BR": "bra", "CA": "can", "CH": "che",
    "CY": "cyp", "CZ": "cze", "DE": "deu", "DK": "dnk", "EE": "est", "ES": "esp", "FI": "fin",
    "FR": "fra", "GB": "gbr", "GR": "grc", "HK": "hkg", "HR": "hrv", "HU": "hun", "IE": "irl",
    "IN": "ind", "IS": "isl", "IT": "ita", "JP": "jpn", "LI": "lie", "LT": "ltu", "LU": "lux",
    "LV": "lva", "MT": "mlt", "MX": "mex", "MY": "mys", "NL": "nld", "NO": "nor", "NZ": "nzl",
    "PL": "pol", "PT": "prt", "RO": "rou", "SE": "swe", "SG": "sgp", "SI": "svn", "SK": "svk",
    "TR": "tur", "US": "usa", "ZA": "zaf",
}  # fmt: skip
