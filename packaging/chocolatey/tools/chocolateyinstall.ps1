# Installs op.exe and octopipeline.exe from the release zip after checking its SHA-256.
# TEMPLATE: the release workflow replaces @VERSION@ and @SHA256_x86_64-pc-windows-msvc@.
# Chocolatey puts a shim on PATH for every .exe under the package folder: op and octopipeline.
$ErrorActionPreference = 'Stop'
$toolsDir = Split-Path -Parent $MyInvocation.MyCommand.Definition
$version = '@VERSION@'

$packageArgs = @{
  packageName    = $env:ChocolateyPackageName
  unzipLocation  = $toolsDir
  url64bit       = "https://github.com/octopilot/octopipeline/releases/download/v$version/octopipeline-$version-x86_64-pc-windows-msvc.zip"
  checksum64     = '@SHA256_x86_64-pc-windows-msvc@'
  checksumType64 = 'sha256'
}
Install-ChocolateyZipPackage @packageArgs
