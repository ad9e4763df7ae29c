//! LOLWUT (lolwut.c): Redis 7.0's own version prints its version line; VERSION 5 draws Georg
//! Nees's "Schotter" in Braille characters (lolwut5.c), squares rotated and moved more at
//! random row after row (the first two rows are always straight).

use rand::Rng;

use super::args::{self, is};
use super::{Ctx, Error, Reply};

pub(crate) fn lolwut(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let mut version = crate::REDIS_VERSION.to_string();
    let mut rest = &a[1..];
    if a.len() >= 3 && is(&a[1], "version") {
        let v = args::int(&a[2])?;
        // Redis formats it as an unsigned int.
        version = format!("{}.0.0", v as u32);
        rest = &a[3..];
    }
    let b = version.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let v5 = (at(0) == b'5' && at(1) == b'.' && at(2) != b'9')
        || (at(0) == b'4' && at(1) == b'.' && at(2) == b'9');
    let v6 = (at(0) == b'6' && at(1) == b'.' && at(2) != b'9')
        || (at(0) == b'5' && at(1) == b'.' && at(2) == b'9');
    let text = if v5 {
        schotter_command(ctx, rest)?
    } else if v6 {
        return Err(Error::new(
            "ERR LOLWUT version 6 (the city skyline drawing) is not implemented in Amber",
        ));
    } else {
        format!("Redis ver. {}\n", crate::REDIS_VERSION)
    };
    ctx.cl.out.verbatim(text.as_bytes());
    Ok(())
}

/// lolwut5Command: [cols [squares-per-row [squares-per-col]]], clamped to Redis's limits.
fn schotter_command(ctx: &mut Ctx<'_>, a: &[Vec<u8>]) -> Result<String, Error> {
    let arg = |i: usize, default: i64| a.get(i).map_or(Ok(default), |v| args::int(v));
    let cols = arg(0, 66)?.clamp(1, 1000);
    let per_row = arg(1, 8)?.clamp(1, 200);
    let per_col = arg(2, 12)?.clamp(1, 200);
    let canvas = schotter(
        &mut ctx.srv.rng,
        cols as i32,
        per_row as i32,
        per_col as i32,
    );
    let mut text = canvas.render();
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(crate::REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32) -> Canvas {
        let n = (width.max(0) as usize) * (height.max(0) as usize);
        Canvas {
            width,
            height,
            pixels: vec![0; n],
        }
    }

    fn set(&mut self, x: i32, y: i32) {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize] = 1;
        }
    }

    fn get(&self, x: i32, y: i32) -> bool {
        x >= 0
            && x < self.width
            && y >= 0
            && y < self.height
            && self.pixels[(x + y * self.width) as usize] != 0
    }

    /// Bresenham, as lwDrawLine.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// lwDrawSquare: a square of side `size` centred on x,y, rotated by `angle`.
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32) {
        // Redis's literal, not the exact square root of 2: the pixels depend on it.
        #[allow(clippy::approx_constant)]
        let size = (f64::from(size) / 1.4142135623).round() as f32;
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut p = [(0i32, 0i32); 4];
        for pt in &mut p {
            let kd = f64::from(k);
            *pt = (
                (kd.sin() * f64::from(size) + f64::from(x)).round() as i32,
                (kd.cos() * f64::from(size) + f64::from(y)).round() as i32,
            );
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            let (a, b) = (p[j], p[(j + 1) % 4]);
            self.line(a.0, a.1, b.0, b.1);
        }
    }

    /// Braille characters, each 2 x 4 pixels (lolwut5.c's renderCanvas).
    fn render(&self) -> String {
        let mut s = String::new();
        let mut y = 0;
        while y < self.height {
            let mut x = 0;
            while x < self.width {
                let bits = [
                    (x, y),
                    (x, y + 1),
                    (x, y + 2),
                    (x + 1, y),
                    (x + 1, y + 1),
                    (x + 1, y + 2),
                    (x, y + 3),
                    (x + 1, y + 3),
                ];
                let byte = bits
                    .iter()
                    .enumerate()
                    .filter(|(_, &(px, py))| self.get(px, py))
                    .fold(0u32, |b, (i, _)| b | 1 << i);
                s.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
                x += 2;
            }
            if y != self.height - 1 {
                s.push('\n');
            }
            y += 4;
        }
        s
    }
}

/// lwDrawSchotter.
fn schotter(rng: &mut impl Rng, cols: i32, per_row: i32, per_col: i32) -> Canvas {
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0f32;
            if y > 1 {
                let mut r = || rng.gen::<f32>() / per_col as f32 * y as f32;
                let (mut r1, mut r2, mut r3) = (r(), r(), r());
                if rng.gen::<bool>() {
                    r1 = -r1;
                }
                if rng.gen::<bool>() {
                    r2 = -r2;
                }
                if rng.gen::<bool>() {
                    r3 = -r3;
                }
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i32;
                sy = (sy as f32 + r3 * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle);
        }
    }
    canvas
}
