#!/usr/bin/env bash
# Debian packages the project needs: espeak-ng (narration for generated lectures),
# hunspell-en-med (medical word list read at run time by the denoiser), tesseract-ocr with its
# English model (the decoder reads the words on each key frame) and chromium (headless, to test
# the gallery page in a real browser).
set -euo pipefail
missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ -f /usr/share/hunspell/en_med_glut.dic ] || missing+=(hunspell-en-med)
command -v chromium >/dev/null || missing+=(chromium)
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
[ -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] || ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata \
  >/dev/null 2>&1 || missing+=(tesseract-ocr-eng)
# kubectl renders k8s/ for `make k8s-check`; Debian's own kubernetes-client (1.20) is too old for it, so it is
# not installed from here: this machine image carries kubectl from Kubernetes' apt repository.
command -v kubectl >/dev/null || echo "note: kubectl >= 1.27 is not installed; make k8s-check will fail" >&2
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
