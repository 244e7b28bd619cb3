; Inno Setup 6 script: a per-user installer for the onedir bundle in dist\screenscribe.
;     iscc /DAppVersion=0.1.0 packaging\windows\screenscribe.iss   (build.ps1 runs it)
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6C1B9E0E-5D0B-4C55-9B1E-5C4A0E7A2F11}
AppName=ScreenScribe
AppVersion={#AppVersion}
AppPublisher=ScreenScribe developers
DefaultDirName={localappdata}\Programs\ScreenScribe
DefaultGroupName=ScreenScribe
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=ScreenScribe-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\screenscribe.exe
WizardStyle=modern
; The tray app holds its files open: the Restart Manager closes it before files are
; replaced or removed.
CloseApplications=yes

[Files]
Source: "..\..\dist\screenscribe\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\ScreenScribe"; Filename: "{app}\screenscribe.exe"
Name: "{group}\Uninstall ScreenScribe"; Filename: "{uninstallexe}"

[Run]
Filename: "{app}\screenscribe.exe"; Description: "Start ScreenScribe"; Flags: nowait postinstall skipifsilent
