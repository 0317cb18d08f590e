"""Credential DTOs: Vapi's `Create<Provider>CredentialDTO` for the providers this server serves, and
`custom-credential` with a `bearer` authentication plan (for tool servers, apiRequest tools, webhooks)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StringConstraints, model_validator

from chatloom.api.schemas.common import NonEmptyStr, Strict
from chatloom.providers.registry import SPECS

CUSTOM_CREDENTIAL = "custom-credential"
CREDENTIAL_PROVIDERS = (*sorted(spec.name for spec in SPECS), CUSTOM_CREDENTIAL)

Secret = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
CredentialName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class BearerPlanIn(Strict):
    type: Literal["bearer"]
    token: Secret
    header_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, alias="headerName"
    )
    bearer_prefix_enabled: StrictBool | None = Field(None, alias="bearerPrefixEnabled")


class CredentialPatch(Strict):
    """`PATCH /credential/{id}`: the given fields replace the stored ones (the provider stays)."""

    provider: NonEmptyStr | None = None
    api_key: Secret | None = Field(None, alias="apiKey")
    name: CredentialName | None = None
    authentication_plan: BearerPlanIn | None = Field(None, alias="authenticationPlan")


class CredentialIn(CredentialPatch):
    """`POST /credential`."""

    provider: NonEmptyStr

    @model_validator(mode="after")
    def _served_provider(self) -> CredentialIn:
        if self.provider not in CREDENTIAL_PROVIDERS:
            raise ValueError(
                f"provider '{self.provider}' is not supported by this server for credentials "
                f"(supported: {', '.join(CREDENTIAL_PROVIDERS)})"
            )
        if self.provider == CUSTOM_CREDENTIAL:
            if self.authentication_plan is None:
                raise ValueError("a custom-credential needs authenticationPlan ({type: 'bearer', token})")
        elif self.api_key is None:
            raise ValueError(f"apiKey is required for a {self.provider} credential")
        return self
