#!/bin/sh
# Turn a Debian-based Python image (python:3.11-slim-bookworm or the local
# todo-airgap/python) into the app's runtime root: what a running container needs
# (Python and the libraries it links, CA certificates, time zones, a POSIX shell with
# coreutils for `sh -c` and `sleep`) and nothing that only installs or administers a
# system. Run as root in a build stage; the image then copies the result FROM scratch.
#
# Packages go through dpkg, so /var/lib/dpkg/status still lists exactly what is
# installed (image scanners read it). Then every shared object of the interpreter must
# resolve its libraries, or the build fails here, not at run time.
#
# usage: slim-root.sh                  slim this root, then check the interpreter
#        slim-root.sh --check FOLDER   only check FOLDER's shared objects (the venv)
set -eu

stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')

# Every shared object must find its libraries (the dynamic loader's own listing).
check() {
  python3 - "$@" <<'CHECK'
import glob, os, re, subprocess, sys

loader = glob.glob("/lib64/ld-linux*.so.*") + glob.glob("/lib/ld-linux*.so.*")
interpreter = os.path.realpath(sys.executable)
objects = [interpreter]
for folder in sys.argv[1:]:
    for root, _, files in os.walk(folder):
        objects += [os.path.join(root, f) for f in files if re.search(r"\.so(\.|$)", f)]
missing = []
for path in objects:
    listing = subprocess.run([loader[0], "--list", path], capture_output=True, text=True)
    missing += [f"{path}: {line.strip()}" for line in listing.stdout.splitlines() if "not found" in line]
if missing:
    sys.exit("shared libraries missing in the runtime root:\n" + "\n".join(missing))
print(f"slim-root: {len(objects)} shared objects resolve their libraries")
CHECK
}

if [ "${1:-}" = "--check" ]; then
  shift
  check "$@"
  exit 0
fi

# Removed first, while the tools their removal scripts call (debconf, xargs, py3clean,
# deb-systemd-helper) still exist.
FIRST="
  apt libapt-pkg6.0 gpgv debian-archive-keyring adduser
  python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl
  python3-lib2to3 python3-distutils
  e2fsprogs libext2fs2 libss2 logsave util-linux util-linux-extra mount bsdutils
  login passwd libpam-modules libpam-modules-bin libpam-runtime libpam0g
  libsemanage2 libsemanage-common libsepol2 libaudit1 libaudit-common libcap-ng0
  sysvinit-utils init-system-helpers hostname
"
# The tools themselves, and libraries only the removed packages used.
SECOND="
  debconf libdebconfclient0 perl-base bash ncurses-bin tar gzip diffutils findutils
  libgnutls30 libp11-kit0 libtasn1-6 libnettle8 libhogweed6 libidn2-0 libunistring2
  libgcrypt20 libgpg-error0 libsystemd0 libudev1 liblz4-1 libseccomp2
  libmount1 libblkid1 libsmartcols1
"

installed() {
  for package in "$@"; do
    dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' "$package" 2>/dev/null \
      | awk '$1 == "ii" { print $2 }'
  done
}

# Documentation goes (copyright notices stay) while find is still there.
find /usr/share/doc -type f ! -name copyright -delete

for set in "$FIRST" "$SECOND"; do
  # shellcheck disable=SC2086 # word splitting intended: one package per word
  packages=$(installed $set)
  if [ -n "$packages" ]; then
    # shellcheck disable=SC2086
    dpkg --purge --force-remove-essential --force-depends $packages >/dev/null
  fi
done

dynload=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("DESTSHARED"))')
# Files nothing needs at run time: glibc's iconv modules (Python has its own codecs),
# package caches and logs, the standard library's tests, GUI and 2to3 parts.
rm -rf /usr/lib/*/gconv /usr/share/man /usr/share/info /usr/share/locale /usr/share/lintian \
  /etc/apt /var/cache/debconf /var/cache/apt /var/lib/apt /var/log/* \
  "$stdlib"/test "$stdlib"/idlelib "$stdlib"/tkinter "$stdlib"/turtledemo \
  "$stdlib"/lib2to3 "$stdlib"/ensurepip "$stdlib"/pydoc_data \
  "$dynload"/_test*.so "$dynload"/_ctypes_test*.so "$dynload"/_xxtestfuzz*.so \
  "$dynload"/xxlimited*.so

check "$stdlib"
