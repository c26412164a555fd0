//! nightcap-stack: the products made from a journal (stacks, star trails, timelapses,
//! keograms) and the files they are written to ([`output`]).
//!
//! Stacking turns many frames into one image and renders that image for display.
//!
//! Reduction happens in the sensor's own layout (a CFA mosaic stays a mosaic); only the
//! finished stack is demosaiced ([`debayer`]) and tone-mapped ([`tone`]), once per output.

pub mod calib;
pub mod calibrate;
pub mod caption;
pub mod debayer;
pub mod night;
pub mod output;
pub mod pool;
pub mod preview;
pub mod reduce;
pub mod timelapse;
pub mod tone;
pub mod trail_video;
pub mod window;

pub use night::{run_stack, StackConfig, StackError, StackEvent, WindowOutput};
pub mod follow;
pub mod gapfill;
pub mod products;
pub mod reject;
pub mod select;
pub mod stars;
pub mod stats;
