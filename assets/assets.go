// Package assets holds the resources bundled into the binary.
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the application icon (512×512 PNG), the same file FyneApp.toml
// names for packaging.
var Icon = fyne.NewStaticResource("icon.png", iconPNG)
