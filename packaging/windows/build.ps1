# Builds the Windows bundle of ScreenScribe in one command (PowerShell 5+, Python 3.11+
# from python.org on PATH as `py`):
#
#     powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
#
# Leaves dist\screenscribe\ (screenscribe.exe: the tray app, windowed;
# screenscribe-cli.exe: the same program for terminals), dist\screenscribe-VERSION-windows-x64.zip
# and, when Inno Setup's iscc.exe is on PATH, dist\ScreenScribe-VERSION-setup.exe from
# packaging\windows\screenscribe.iss.
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Root

$Version = (Select-String -Path desktop_app\__init__.py -Pattern '^__version__ = "(.+)"').Matches[0].Groups[1].Value
$Venv = "build\windows-venv"
if (-not (Test-Path "$Venv\Scripts\python.exe")) { py -3 -m venv $Venv }
$Py = "$Venv\Scripts\python.exe"
& $Py -m pip install -q --disable-pip-version-check . "pyinstaller>=6.10,<7"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

& $Py -m PyInstaller --noconfirm --clean --log-level WARN `
    --distpath dist --workpath build\pyinstaller packaging\pyinstaller\screenscribe.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# The same checks as packaging/linux/smoke.py's first steps: the frozen CLI and OCR worker.
& dist\screenscribe\screenscribe-cli.exe --version
if ($LASTEXITCODE -ne 0) { throw "screenscribe-cli --version failed" }
$Read = & dist\screenscribe\screenscribe-cli.exe ocr --engine local tests\data\ocr\single_line_13px.png
$Want = (Get-Content tests\data\ocr\single_line_13px.txt -Raw).Trim()
if ($LASTEXITCODE -ne 0 -or ($Read -join "`n").Trim() -ne $Want) { throw "offline OCR in the bundle read '$Read'" }

$Zip = "dist\screenscribe-$Version-windows-x64.zip"
if (Test-Path $Zip) { Remove-Item $Zip }
Compress-Archive -Path dist\screenscribe -DestinationPath $Zip
Write-Host "build.ps1: $Zip"

$Iscc = Get-Command iscc.exe -ErrorAction SilentlyContinue
if ($Iscc) {
    & $Iscc.Source "/DAppVersion=$Version" packaging\windows\screenscribe.iss
    if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
} else {
    Write-Host "build.ps1: no iscc.exe on PATH (Inno Setup 6): the installer was not made"
}
