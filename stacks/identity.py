"""Who may sign in: a Cognito user pool and the app client whose tokens the API accepts.

Created only when a stage names no other token issuer (``Authentication.creates_user_pool``).
The functions verify the tokens themselves (``image_api.auth``) against the pool's JWKS;
there is no API Gateway authorizer, because the local cloud does not run one and the
checks must hold, and be tested, in both places.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.settings import TokenIssuer

# Where Cognito publishes a pool's signing keys, relative to its issuer URL.
COGNITO_JWKS_PATH = "/.well-known/jwks.json"
TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.days(30)


class CognitoIssuer(Construct):
    """A user pool (users are invited: no self sign-up) and one public app client.

    With ``gallery_url``, the pool gets a Cognito domain (its hosted sign-in pages, under
    ``domain_prefix``) and the client the authorization-code flow (PKCE: a public client has no
    secret) with the gallery's address as its only callback and sign-out URL.

    Exposes ``user_pool``, ``client``, ``token_issuer`` (what the API functions verify) and
    ``domain`` (None without a gallery).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        gallery_url: str | None = None,
        domain_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if gallery_url is not None and not domain_prefix:
            raise ValueError("a gallery signs in on the pool's Cognito domain: give its domain_prefix")
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            # Users are created by an administrator (README, "Signing in"); opening sign-up is a
            # product decision with its own abuse handling.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal_policy,
            # A pool kept on stack deletion holds real users: protect it from deletion by hand too.
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        )
        self.client = self.user_pool.add_client(
            "Client",
            # A browser or CLI app cannot keep a secret.
            generate_secret=False,
            # Username/password (for the CLI, README) and SRP (for SDK front ends); the hosted
            # sign-in pages only for the gallery's authorization-code flow.
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            disable_o_auth=gallery_url is None,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[gallery_url],
                logout_urls=[gallery_url],
            )
            if gallery_url is not None
            else None,
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO]
            if gallery_url is not None
            else None,
            access_token_validity=TOKEN_VALIDITY,
            id_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )
        self.domain: cognito.UserPoolDomain | None = None
        if gallery_url is not None and domain_prefix:
            # Managed login: Cognito's current hosted sign-in pages, in its own default style.
            self.domain = self.user_pool.add_domain(
                "Domain",
                cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
                managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
            )
            # Managed login shows a client's pages only once the client has a style.
            cognito.CfnManagedLoginBranding(
                self,
                "LoginStyle",
                user_pool_id=self.user_pool.user_pool_id,
                client_id=self.client.user_pool_client_id,
                use_cognito_provided_values=True,
            )
        issuer = self.user_pool.user_pool_provider_url
        # ID tokens name the client in aud; access tokens in client_id (checked with token_use).
        self.token_issuer = TokenIssuer(
            issuer=issuer,
            audiences=(self.client.user_pool_client_id,),
            jwks_url=f"{issuer}{COGNITO_JWKS_PATH}",
        )
        Validations.of(self.user_pool).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG2",
                reason="MFA is optional (TOTP) so that users can sign in from the CLI as the README "
                "shows; requiring it for every user is a product decision for the front end.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG8",
                reason="Threat protection (compromised-credential and adaptive sign-in checks) needs "
                "Cognito's Plus plan, billed per active user: a cost decision for the product owner; "
                "users are invited only and tokens expire after an hour.",
            ),
        )
