//! Stacking: turning many frames into one image, and rendering that image for display.
//!
//! Reduction happens in the sensor's own layout (a CFA mosaic stays a mosaic); only the
//! finished stack is demosaiced ([`debayer`]) and tone-mapped ([`tone`]), once per output.

pub mod calib;
pub mod debayer;
pub mod night;
pub mod reduce;
pub mod tone;
pub mod window;

pub use night::{run_stack, StackConfig, StackError, StackEvent, WindowOutput};
pub mod follow;
pub mod gapfill;
pub mod products;
pub mod reject;
pub mod stars;
