# The one place that points AWS tools at the local cloud. Every target that talks to it
# runs its command behind $(LOCALCLOUD_ENV); nothing is exported globally, so `make
# deploy-aws` and anything else meant for real AWS never sees these.
LOCALCLOUD_PORT ?= 4566
LOCALCLOUD_URL := http://127.0.0.1:$(LOCALCLOUD_PORT)
LOCALCLOUD_ACCOUNT := 000000000000
LOCALCLOUD_REGION := us-east-1

# cdklocal would otherwise use localhost.localstack.cloud names, which need public DNS;
# it refuses AWS_ENDPOINT_URL without AWS_ENDPOINT_URL_S3. Path-style S3 because bucket
# subdomains of 127.0.0.1 do not resolve. The credentials are LocalStack's dummy ones.
LOCALCLOUD_ENV := env \
	LOCALCLOUD_PORT=$(LOCALCLOUD_PORT) \
	AWS_ENDPOINT_URL=$(LOCALCLOUD_URL) \
	AWS_ENDPOINT_URL_S3=$(LOCALCLOUD_URL) \
	AWS_S3_FORCE_PATH_STYLE=1 \
	AWS_ACCESS_KEY_ID=test \
	AWS_SECRET_ACCESS_KEY=test \
	AWS_DEFAULT_REGION=$(LOCALCLOUD_REGION) \
	AWS_REGION=$(LOCALCLOUD_REGION) \
	CDK_DEFAULT_ACCOUNT=$(LOCALCLOUD_ACCOUNT) \
	CDK_DEFAULT_REGION=$(LOCALCLOUD_REGION)
