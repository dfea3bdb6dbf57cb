# Removes the folder chocolateyinstall.ps1 unpacked into tools\. Chocolatey itself removes the
# op and octopipeline shims and the rest of the package folder.
# TEMPLATE: the release workflow replaces @VERSION@.
$ErrorActionPreference = 'Stop'
$toolsDir = Split-Path -Parent $MyInvocation.MyCommand.Definition
$version = '@VERSION@'
$unpacked = Join-Path $toolsDir "octopipeline-$version-x86_64-pc-windows-msvc"
if (Test-Path $unpacked) {
  Remove-Item -Recurse -Force $unpacked
}
