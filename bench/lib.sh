# Shared by the bench scripts (sourced, not run).

apt_updated=""
# apt_install PACKAGE...: Debian packages for a benchmark's peers, bounded in time; root only.
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then return 1; fi
  if [ -z "$apt_updated" ]; then
    timeout 300 apt-get update -qq >&2 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >&2
}
