# Installs op.exe and octopipeline.exe from the release zip, verified by SHA-256.
# The release workflow replaces RELEASE_VERSION and WINDOWS_ZIP_SHA256.
$ErrorActionPreference = 'Stop'
$toolsDir = Split-Path -Parent $MyInvocation.MyCommand.Definition
$packageArgs = @{
  packageName    = 'octopipeline'
  unzipLocation  = $toolsDir
  url64bit       = 'https://github.com/octopilot/octopipeline/releases/download/vRELEASE_VERSION/octopipeline-RELEASE_VERSION-x86_64-pc-windows-msvc.zip'
  checksum64     = 'WINDOWS_ZIP_SHA256'
  checksumType64 = 'sha256'
}
Install-ChocolateyZipPackage @packageArgs
# Chocolatey shims every .exe under tools/, so both op and octopipeline land on PATH.
