#!/usr/bin/env bash
# Build this project's serving image and push it to Amazon ECR.
#
#   ./build_and_push.sh [OPTIONS] IMAGE_NAME [TAG]
#
# TAG defaults to the git commit (with "-dirty" when the working tree has changes); the image is
# also tagged and pushed as "latest" (unless --no-latest). Prints the image URI and its digest.
#
# Options:
#   --region REGION         AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION, then
#                           `aws configure get region`; none of these is an error, never a guess)
#   --registry HOST[:PORT]  push to this registry instead of ACCOUNT.dkr.ecr.REGION.amazonaws.com
#                           (a private mirror or pull-through registry; also BYOC_REGISTRY). The
#                           ECR repository and login token are still ECR's.
#   --build-arg NAME=VALUE  passed to docker build (repeatable); BASE_IMAGE from the environment
#                           is passed as --build-arg BASE_IMAGE=... too
#   --platform PLATFORM     default: linux/amd64 when this machine is not amd64 (SageMaker runs
#                           x86_64 instances unless you chose Graviton ones); nothing otherwise
#   --network MODE          docker build --network (e.g. host)
#   -f, --file DOCKERFILE   default: Dockerfile next to this script
#   --context DIR           default: the directory of this script
#   --no-latest             do not tag and push "latest"
#
# Needs: the aws CLI (v1 >= 1.29 or v2; it honours AWS_ENDPOINT_URL*), docker, git (for the
# default tag). Exit status: 0 pushed, 1 a step failed (its message says which), 2 usage.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build_and_push.sh: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'build_and_push.sh: %s\n(see --help)\n' "$*" >&2; exit 2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

region_flag=""
registry="${BYOC_REGISTRY:-}"
platform=""
network=""
dockerfile=""
context="$SCRIPT_DIR"
push_latest=1
build_args=()

while [ "$#" -gt 0 ]; do
    case "$1" in
        --region) [ "$#" -ge 2 ] || usage_error "--region needs a value"; region_flag="$2"; shift 2 ;;
        --registry) [ "$#" -ge 2 ] || usage_error "--registry needs a value"; registry="$2"; shift 2 ;;
        --build-arg) [ "$#" -ge 2 ] || usage_error "--build-arg needs NAME=VALUE"; build_args+=(--build-arg "$2"); shift 2 ;;
        --platform) [ "$#" -ge 2 ] || usage_error "--platform needs a value"; platform="$2"; shift 2 ;;
        --network) [ "$#" -ge 2 ] || usage_error "--network needs a value"; network="$2"; shift 2 ;;
        -f|--file) [ "$#" -ge 2 ] || usage_error "--file needs a path"; dockerfile="$2"; shift 2 ;;
        --context) [ "$#" -ge 2 ] || usage_error "--context needs a directory"; context="$2"; shift 2 ;;
        --no-latest) push_latest=0; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage_error "unknown option $1" ;;
        *) break ;;
    esac
done

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then usage_error "expected IMAGE_NAME [TAG]"; fi
image_name="$1"
tag="${2:-}"
dockerfile="${dockerfile:-$context/Dockerfile}"

# ECR repository names: lower case, digits, and . _ - / separators; 2 to 256 characters.
if ! [[ "$image_name" =~ ^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] || [ "${#image_name}" -gt 256 ]; then
    usage_error "IMAGE_NAME '$image_name' is not a valid ECR repository name (lower case letters, digits, . _ - /)"
fi
[ -f "$dockerfile" ] || usage_error "no Dockerfile at $dockerfile"

for tool in aws docker; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (or not on PATH)"
done

# --- region: explicit flag, then the environment, then the CLI config; never a silent default ---
region="$region_flag"
region_source="--region"
if [ -z "$region" ] && [ -n "${AWS_REGION:-}" ]; then region="$AWS_REGION"; region_source="AWS_REGION"; fi
if [ -z "$region" ] && [ -n "${AWS_DEFAULT_REGION:-}" ]; then region="$AWS_DEFAULT_REGION"; region_source="AWS_DEFAULT_REGION"; fi
if [ -z "$region" ]; then
    region="$(aws configure get region 2>/dev/null || true)"
    region_source="aws configure get region"
fi
[ -n "$region" ] || die "no AWS region: set AWS_REGION, run 'aws configure set region REGION', or pass --region REGION"
say "region $region (from $region_source)"

# --- tag ----------------------------------------------------------------------------------------
if [ -z "$tag" ]; then
    if ! tag="$(git -C "$context" rev-parse --short=12 HEAD 2>/dev/null)"; then
        usage_error "$context is not a git checkout: give a TAG"
    fi
    if [ -n "$(git -C "$context" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        tag="$tag-dirty"
    fi
fi
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "TAG '$tag' is not a valid image tag"

# --- account and registry -------------------------------------------------------------------------
account="$(aws sts get-caller-identity --region "$region" --query Account --output text)" \
    || die "could not read the AWS account with 'aws sts get-caller-identity' (credentials?)"
[[ "$account" =~ ^[0-9]{12}$ ]] || die "unexpected account id '$account' from sts get-caller-identity"
domain="amazonaws.com"
case "$region" in cn-*) domain="amazonaws.com.cn" ;; esac
ecr_host="$account.dkr.ecr.$region.$domain"
registry="${registry:-$ecr_host}"
repository_uri="$registry/$image_name"
say "account $account, registry $registry"

# --- the ECR repository: created only when it truly does not exist -----------------------------
describe_error="$(mktemp)"
trap 'rm -f "$describe_error"' EXIT
if aws ecr describe-repositories --region "$region" --repository-names "$image_name" >/dev/null 2>"$describe_error"; then
    say "ECR repository $image_name exists"
elif grep -q "RepositoryNotFoundException" "$describe_error"; then
    say "creating ECR repository $image_name (scan on push)"
    aws ecr create-repository --region "$region" --repository-name "$image_name" \
        --image-scanning-configuration scanOnPush=true >/dev/null \
        || die "could not create the ECR repository $image_name"
else
    cat "$describe_error" >&2
    die "could not check the ECR repository $image_name (not creating one blindly)"
fi

# --- login: the ECR token, straight into docker login (never on a command line) ---------------------
say "logging in to $registry"
aws ecr get-login-password --region "$region" \
    | docker login --username AWS --password-stdin "$registry" >/dev/null \
    || die "docker login to $registry failed"

# --- build -----------------------------------------------------------------------------------------
build=(docker build -f "$dockerfile" -t "$repository_uri:$tag")
[ "$push_latest" -eq 1 ] && build+=(-t "$repository_uri:latest")
if [ -z "$platform" ]; then
    case "$(uname -m)" in
        x86_64|amd64) ;;
        *) platform="linux/amd64"; say "this machine is $(uname -m): building for linux/amd64" ;;
    esac
fi
[ -n "$platform" ] && build+=(--platform "$platform")
[ -n "$network" ] && build+=(--network "$network")
[ -n "${BASE_IMAGE:-}" ] && build+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ "${#build_args[@]}" -gt 0 ]; then build+=("${build_args[@]}"); fi
say "building $repository_uri:$tag"
"${build[@]}" "$context" || die "docker build failed"

# --- push --------------------------------------------------------------------------------------------
say "pushing $repository_uri:$tag"
docker push "$repository_uri:$tag" >&2 || die "docker push $repository_uri:$tag failed"
if [ "$push_latest" -eq 1 ]; then
    say "pushing $repository_uri:latest"
    docker push "$repository_uri:latest" >&2 || die "docker push $repository_uri:latest failed"
fi

digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$repository_uri:$tag" \
    | grep -F "$repository_uri@" | head -n 1 | cut -d@ -f2 || true)"
[ -n "$digest" ] || die "pushed, but docker does not report a digest for $repository_uri:$tag"

echo "image: $repository_uri:$tag"
echo "digest: $digest"
echo "pinned: $repository_uri@$digest"
