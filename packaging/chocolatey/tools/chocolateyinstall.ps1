# Installs op.exe from the release zip after checking its SHA-256, and octopipeline.exe as a
# hard link to it (the same file under a second name: no second download, no second copy on
# disk, and the program sees the name it was started as).
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
$unpacked = Join-Path $toolsDir "octopipeline-$version-x86_64-pc-windows-msvc"
New-Item -ItemType HardLink -Path (Join-Path $unpacked 'octopipeline.exe') -Target (Join-Path $unpacked 'op.exe') | Out-Null
